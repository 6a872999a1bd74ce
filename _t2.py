import time, numpy as np, pandas as pd, lightgbm as lgb
from mloop_common.ml.pipelines import build_model
from mloop_common.ml.algorithms import with_defaults
from bench.bare_training import column_kind
f = pd.read_csv('/tmp/tb/t.csv')
feats = {n: column_kind(f[n]) for n in f.columns if n!='label'}
p = with_defaults('classification','lightgbm',{}); print(p)
m = build_model('classification','lightgbm',p,columns=feats,n_jobs=2,seed=42)
X = f[list(feats)]; y=f.label.to_numpy()
t=time.perf_counter(); Z = m.named_steps['preprocess'].fit_transform(X, y); print('pre', time.perf_counter()-t, type(Z), getattr(Z,'dtype',None), Z.shape)
est = m.named_steps['model']; print(est)
t=time.perf_counter(); est.fit(Z, y); print('fit', time.perf_counter()-t, flush=True)
est2 = lgb.LGBMClassifier(n_jobs=2, verbose=-1, random_state=42)
t=time.perf_counter(); est2.fit(Z, y); print('fit plain', time.perf_counter()-t, flush=True)
