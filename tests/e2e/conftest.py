"""End-to-end journeys: through the browser (the portal) or through all three services, on the real stack."""
