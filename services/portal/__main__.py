from services.portal.app import create_app
from shared.production import refuse_unsafe_start
from shared.service_app import observe, serve
from shared.settings import get_settings

if __name__ == "__main__":
    observe(get_settings(), "portal")  # logs and traces, before anything logs
    refuse_unsafe_start(get_settings(), "portal")  # before anything connects
    serve(create_app(), get_settings(), get_settings().portal_port)
