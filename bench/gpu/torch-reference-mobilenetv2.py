# Copied unchanged from ../shared/gpu/torch-reference-mobilenetv2.py (the reference of the 2026-11-28 baseline); run by run.sh beside the tfjs benchmark.
import time, json, torch, torchvision
dev='cuda'; torch.backends.cudnn.benchmark=True
res={}
for mode in ['fp32','tf32']:
    on = mode=='tf32'; torch.backends.cuda.matmul.allow_tf32=on; torch.backends.cudnn.allow_tf32=on
    m=torchvision.models.mobilenet_v2(weights=None, num_classes=5).to(dev); opt=torch.optim.SGD(m.parameters(), lr=0.01)
    x=torch.rand(32,3,224,224,device=dev); y=torch.randint(0,5,(32,),device=dev)
    def t(fn,n):
        for _ in range(3): fn()
        torch.cuda.synchronize(); t0=time.perf_counter()
        for _ in range(n): fn()
        torch.cuda.synchronize(); return (time.perf_counter()-t0)/n*1000
    m.eval()
    with torch.no_grad(): ms=t(lambda: m(x),20)
    res['infer_'+mode]={'ms':ms,'ips':32/ms*1000}
    m.train()
    def step():
        opt.zero_grad(set_to_none=True); torch.nn.functional.cross_entropy(m(x),y).backward(); opt.step()
    ms=t(step,20); res['train_'+mode]={'ms':ms,'ips':32/ms*1000}
print('TORCH_MNV2', json.dumps(res))
