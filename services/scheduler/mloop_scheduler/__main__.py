from mloop_common.runtime import serve

from mloop_scheduler.main import create_app

serve("scheduler", create_app)
