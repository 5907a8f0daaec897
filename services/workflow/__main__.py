from services.workflow.app import create_app
from shared.service_app import serve
from shared.settings import get_settings

serve(create_app(), get_settings(), get_settings().workflow_port)
