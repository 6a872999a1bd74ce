from mloop_common.runtime import serve

from mloop_predictor.main import create_app

serve("predictor", create_app)
