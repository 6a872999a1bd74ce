from mloop_common.runtime import serve

from mloop_trainer.main import create_app

serve("trainer", create_app)
