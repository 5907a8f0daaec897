"""Archive service: keeps approved documents unchanged and lets the records office retrieve them."""
