# Copied unchanged from ../shared/gpu/torch-reference.py (the reference of the 2026-11-28 baseline); run by run.sh beside the tfjs benchmark.
# PyTorch reference on the same GPU: matmul fp32 (tf32 off and on), ResNet50 train/infer at 224, batch 32.
import time, json, torch, torchvision
dev = 'cuda'
res = {}
def timeit(fn, reps):
    for _ in range(3): fn()
    torch.cuda.synchronize(); t0 = time.perf_counter()
    for _ in range(reps): fn()
    torch.cuda.synchronize(); return (time.perf_counter() - t0) / reps * 1000
n = 4096
a = torch.randn(n, n, device=dev); b = torch.randn(n, n, device=dev)
torch.backends.cuda.matmul.allow_tf32 = False; torch.backends.cudnn.allow_tf32 = False
ms = timeit(lambda: a @ b, 20); res['matmul_fp32'] = {'ms': ms, 'tflops': 2 * n**3 / ms / 1e9}
torch.backends.cuda.matmul.allow_tf32 = True; torch.backends.cudnn.allow_tf32 = True
ms = timeit(lambda: a @ b, 20); res['matmul_tf32'] = {'ms': ms, 'tflops': 2 * n**3 / ms / 1e9}
for mode in ['fp32', 'tf32']:
    on = mode == 'tf32'
    torch.backends.cuda.matmul.allow_tf32 = on; torch.backends.cudnn.allow_tf32 = on
    torch.backends.cudnn.benchmark = True
    m = torchvision.models.resnet50(weights=None, num_classes=10).to(dev)
    opt = torch.optim.SGD(m.parameters(), lr=0.01)
    x = torch.rand(32, 3, 224, 224, device=dev); y = torch.randint(0, 10, (32,), device=dev)
    m.eval()
    with torch.no_grad():
        ms = timeit(lambda: m(x), 20)
    res[f'infer_{mode}'] = {'ms': ms, 'ips': 32 / ms * 1000}
    m.train()
    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(m(x), y); loss.backward(); opt.step()
    ms = timeit(step, 20)
    res[f'train_{mode}'] = {'ms': ms, 'ips': 32 / ms * 1000}
print('TORCH', json.dumps(res))
