# Configuration-derived paths and input functions of the classification stage (rules in dic.smk).

from distildoc.config import dic_jobs, dic_student_view, dic_teacher_view

DIC = CFG["dic"]
DIC_RES = f"{RES}/dic"
SIZE = DIC["img_size"]

# split name -> (label file, image root the label paths are relative to, images it needs)
if SYNTHETIC:
    DIC_SPLITS = {
        **{f"rvl_{s}": (f"{SYN}/rvl/labels/{s}.txt", f"{SYN}/rvl", f"{SYN}/rvl/images/{s}") for s in ("train", "val", "test")},
        "rvl_subtrain": (f"{DATA}/subsets/rvl_train.txt", f"{SYN}/rvl", f"{SYN}/rvl/images/train"),
        "rvl_subval": (f"{DATA}/subsets/rvl_val.txt", f"{SYN}/rvl", f"{SYN}/rvl/images/val"),
        "rvl_n_test": (f"{SYN}/rvl_n/labels/test.txt", f"{SYN}/rvl_n", f"{SYN}/rvl_n/images/test"),
        **{f"tobacco_{s}": (f"{SYN}/tobacco/labels/{s}.txt", f"{SYN}/tobacco", f"{SYN}/tobacco/images/{s}")
           for s in ("train", "val", "test")},
    }
else:
    RAW = "data/raw"
    DIC_SPLITS = {
        **{f"rvl_{s}": (f"{RAW}/rvl_cdip/labels/{s}.txt", f"{RAW}/rvl_cdip/images", f"{RAW}/rvl_cdip/.complete")
           for s in ("train", "val", "test")},
        "rvl_subtrain": (f"{DATA}/subsets/rvl_train.txt", f"{RAW}/rvl_cdip/images", f"{RAW}/rvl_cdip/.complete"),
        "rvl_subval": (f"{DATA}/subsets/rvl_val.txt", f"{RAW}/rvl_cdip/images", f"{RAW}/rvl_cdip/.complete"),
        # images unpacked from the download by rule rvl_cdip_n_labels (label paths relative to that folder)
        "rvl_n_test": (f"{DATA}/labels/rvl_n_test.txt", f"{DATA}/rvl_cdip_n", f"{DATA}/rvl_cdip_n"),
        **{f"tobacco_{s}": (f"{DATA}/labels/tobacco_{s}.txt", f"{RAW}/tobacco3482", f"{RAW}/tobacco3482/.complete")
           for s in ("train", "val", "test")},
    }

# per dataset: teacher train/val, student train/val, evaluation splits
DIC_DATA = {
    "rvl": {"teacher": ("rvl_train", "rvl_val"), "student": ("rvl_subtrain", "rvl_subval"),
            "eval": {"test": "rvl_test", "rvl_n": "rvl_n_test"}},
    "tobacco": {"teacher": ("tobacco_train", "tobacco_val"), "student": ("tobacco_train", "tobacco_val"),
                "eval": {"test": "tobacco_test"}},
}


def tensor_path(name):
    return f"{DIC_RES}/tensors/{name}_{SIZE}.pt"


DIC_JOBS = dic_jobs(DIC)


def student_methods(wc):
    return DIC_JOBS[(wc.dsname, wc.pteacher, wc.student, wc.init, int(wc.seed))]


def pair_dir(ds, teacher, student, init, seed):
    return f"{DIC_RES}/runs/{ds}/{teacher}__{student}__{init}__s{seed}"

def teacher_inputs(wc):
    d = DIC_DATA[wc.dsname]
    inp = {"train": tensor_path(d["teacher"][0]), "val": tensor_path(d["teacher"][1]),
           **{f"eval_{k}": tensor_path(v) for k, v in d["eval"].items()}}
    if wc.dsname == "tobacco" and DIC["tobacco_teacher_from_rvl"]:
        inp["init_from"] = f"{DIC_RES}/teachers/rvl/{wc.teacher}/metrics.json"
    return inp


def student_split_paths(wc):
    return [tensor_path(n) for n in DIC_DATA[wc.dsname]["student"]]


def student_inputs(wc):
    d = DIC_DATA[wc.dsname]
    inp = {"train": tensor_path(d["student"][0]), "val": tensor_path(d["student"][1]),
           **{f"eval_{k}": tensor_path(v) for k, v in d["eval"].items()}}
    if wc.pteacher != "none":
        inp["teacher"] = f"{DIC_RES}/teachers/{wc.dsname}/{wc.pteacher}/metrics.json"
        inp["cache_train"] = f"{DIC_RES}/cache/{wc.dsname}/{wc.pteacher}_train.safetensors"
        inp["cache_val"] = f"{DIC_RES}/cache/{wc.dsname}/{wc.pteacher}_val.safetensors"
    return inp
