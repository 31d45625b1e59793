"""Run under torchrun by test_distributed.py: a real Trainer run whose stage-2 optimizer steps are checked.

After every stage-2 step each rank all-gathers its trainable parameters: they must be identical
on every rank, and every parameter (and buffer) outside the optimizer must equal its value
before the first stage-2 step. Writes ``<out>/rank<R>.json``.
"""
import json
import sys
from pathlib import Path

import torch

from tlstudio.core.project import Project
from tlstudio.core.model.head import HeadSpec
from tlstudio.core.train import distributed, trainer as trainer_module
from tlstudio.core.train.trainer import Trainer

data, out = Path(sys.argv[1]), Path(sys.argv[2])
torch.set_num_threads(1)
dist = distributed.init_from_env(use_cuda=False)
report = {"rank": dist.rank, "world": dist.world_size, "steps": 0, "mismatch": 0, "frozen_changed": 0,
          "trainable_changed": 0}
holder = {}
build = trainer_module.build_optimizer


def checked_optimizer(*args, **kwargs):
    opt = build(*args, **kwargs)
    model = holder["trainer"].model
    if not any(p.requires_grad for p in model.base.parameters()):
        return opt          # stage 1 (head only): not the stage under test
    trained = {id(p) for group in opt.param_groups for p in group["params"]}
    before = {}

    def pre(optimizer, args, kwargs):
        if not before:
            before.update({k: v.detach().clone() for k, v in model.state_dict(keep_vars=False).items()})

    def post(optimizer, args, kwargs):
        report["steps"] += 1
        flat = torch.cat([p.detach().reshape(-1) for g in optimizer.param_groups for p in g["params"]])
        every = [torch.empty_like(flat) for _ in range(dist.world_size)]
        torch.distributed.all_gather(every, flat)
        report["mismatch"] += sum(int(not torch.equal(every[0], t)) for t in every[1:])
        params = dict(model.named_parameters())
        for name, value in model.state_dict().items():
            p = params.get(name)
            changed = not torch.equal(value, before[name])
            if p is not None and id(p) in trained:
                report["trainable_changed"] += int(changed)
            else:
                report["frozen_changed"] += int(changed)

    opt.register_step_pre_hook(pre)
    opt.register_step_post_hook(post)
    return opt


trainer_module.build_optimizer = checked_optimizer
project = Project(name="ddp")
project.data.path = str(data)
project.model.name = "tf_efficientnet_lite0"
project.model.image_size = 64
project.head = HeadSpec(layers=[])
project.training.head_fit = "epochs"
project.training.epochs = 1
project.training.batch_size = 8
project.finetune.enabled = True
project.finetune.epochs = 1
project.finetune.unfreeze_last = 1
t = Trainer(project, out / "run")
holder["trainer"] = t
metrics = t.run()
report["error"] = metrics["error"]
(out / f"rank{dist.rank}.json").write_text(json.dumps(report))
distributed.shutdown()
