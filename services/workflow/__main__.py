from services.workflow.app import create_app
from shared.production import refuse_unsafe_start
from shared.service_app import observe, serve
from shared.settings import get_settings

if __name__ == "__main__":  # guarded: multiprocessing children may import this module
    observe(get_settings(), "workflow")  # logs and traces, before anything logs
    refuse_unsafe_start(get_settings(), "workflow")  # before anything connects
    serve(create_app(), get_settings(), get_settings().workflow_port)
