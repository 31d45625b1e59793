"""Runtime hook of the CPU-only bundle: let torchvision import beside a CPU torch.

The only torchvision wheels the registries offer are built against CUDA torch:
their compiled operators (_C) need libtorch_cuda, which a CPU torch lacks, so
they do not load, and torchvision's own import then fails registering fake
kernels for `torchvision::nms`/`qnms` ("operator ... does not exist"). TL Studio
never calls those detection operators, so declaring their schemas (no kernels)
is enough for the import to succeed; calling them raises the dispatcher's
"no kernel" error. It acts only when the compiled operators cannot be loaded,
so a torchvision that matches its torch is left alone.
"""


def _compiled_ops_load(torch) -> bool:
    import glob
    import importlib.util
    import os

    spec = importlib.util.find_spec("torchvision")  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        return False
    for folder in spec.submodule_search_locations:
        for path in sorted(glob.glob(os.path.join(folder, "_C*.so")) + glob.glob(os.path.join(folder, "_C*.pyd"))):
            try:
                torch.ops.load_library(path)
                return True
            except (OSError, RuntimeError):
                continue
    return False


def _declare_missing_torchvision_ops() -> None:
    import torch

    if _compiled_ops_load(torch):
        return
    lib = torch.library.Library("torchvision", "FRAGMENT")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    # The schemas live as long as this object: keep it for the whole process.
    torch._tlstudio_torchvision_schemas = lib


_declare_missing_torchvision_ops()
