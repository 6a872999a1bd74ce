import time, sys, numpy as np, pandas as pd, lightgbm as lgb
from threadpoolctl import threadpool_limits
if 'imp' in sys.argv:
    import mloop_common.ml.training
X = np.random.default_rng(0).normal(size=(80000, 20)); y = (X[:,0]+X[:,1]>0).astype(int)
t=time.perf_counter(); lgb.LGBMClassifier(n_jobs=2, verbose=-1, n_estimators=10).fit(X,y); print('plain', time.perf_counter()-t, flush=True)
with threadpool_limits(limits=2):
    t=time.perf_counter(); lgb.LGBMClassifier(n_jobs=2, verbose=-1, n_estimators=10).fit(X,y); print('limited', time.perf_counter()-t, flush=True)
