"""Wires the workflow service together."""

from fastapi import FastAPI

from services.workflow import handlers, routes
from services.workflow.service import WorkflowService
from services.workflow.tables import WorkflowBase
from shared.service_app import build_app, build_runtime
from shared.settings import get_settings


def create_app() -> FastAPI:
    runtime = build_runtime("workflow", get_settings(), WorkflowBase)
    service = WorkflowService(runtime.sessions, runtime.relay)
    handlers.register(runtime.broker, service)
    app = build_app(runtime, [routes.router])
    app.state.workflow = service
    return app
