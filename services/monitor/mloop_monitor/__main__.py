from mloop_common.runtime import serve

from mloop_monitor.main import create_app

serve("monitor", create_app)
