from mloop_common.runtime import serve

from mloop_gateway.main import create_app

serve("gateway", create_app)
