from services.portal.app import create_app
from shared.service_app import serve
from shared.settings import get_settings

if __name__ == "__main__":
    serve(create_app(), get_settings(), get_settings().portal_port)
