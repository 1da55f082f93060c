"""ppfom.config: _base_ inheritance, the original layout, -o overrides and one-line errors.

Pure Python and YAML: no paddle import, runs in well under a second.
"""
import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from ppfom.config import (
    CONFIG_DIR,
    NUMERICS_DEFAULTS,
    apply_overrides,
    deep_merge,
    find_config,
    load_config,
    parse_overrides,
)
from ppfom.errors import ConfigError

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURE = SHARED / "fixtures" / "fomm_small.npz"

ALL_CONFIGS = sorted(CONFIG_DIR.rglob("*.yaml"))


def write(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def one_line_error(excinfo, *needles):
    msg = str(excinfo.value)
    assert "\n" not in msg, msg
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"
    return msg


def without_layout(model):
    model = copy.deepcopy(model)
    model["numerics"].pop("config_layout")
    return model


MINIMAL = """
model:
  common_params: {num_kp: 10, num_channels: 3, estimate_jacobian: true}
  generator:
    kp_detector_cfg: {temperature: 0.1, block_expansion: 32, max_features: 1024, scale_factor: 0.25, num_blocks: 5}
    generator_cfg:
      block_expansion: 64
      max_features: 512
      num_down_blocks: 2
      num_bottleneck_blocks: 6
      estimate_occlusion_map: true
      dense_motion_params: {block_expansion: 64, max_features: 1024, num_blocks: 5, scale_factor: 0.25}
  train_params:
    scales: [1, 0.5, 0.25, 0.125]
"""


# ----------------------------------------------------------------------------- _base_


def test_deep_merge_dicts_merge_everything_else_replaces():
    base = {"a": {"x": 1, "y": [1, 2, 3]}, "b": 1, "c": {"k": 1}}
    update = {"a": {"y": [9]}, "b": {"now": "a dict"}, "c": None}
    out = deep_merge(base, update)
    assert out == {"a": {"x": 1, "y": [9]}, "b": {"now": "a dict"}, "c": None}
    assert base["a"]["y"] == [1, 2, 3]  # inputs untouched


def test_base_inheritance_in_order_then_the_file(tmp_path):
    write(tmp_path / "bases" / "net.yaml", MINIMAL)
    write(tmp_path / "bases" / "run.yaml", """
epochs: 20
model:
  train_params: {scales: [1, 0.5]}
  generator: {kp_detector_cfg: {num_blocks: 4}}
""")
    child = write(tmp_path / "sub" / "child.yaml", """
_base_: [../bases/net.yaml, ../bases/run.yaml]
epochs: 30
model:
  common_params: {num_kp: 15}
""")
    cfg = load_config(child)
    assert cfg["epochs"] == 30                                       # file over bases
    assert cfg["model"]["common_params"] == {"num_kp": 15, "num_channels": 3, "estimate_jacobian": True}
    assert cfg["model"]["generator"]["kp_detector_cfg"]["num_blocks"] == 4      # later base wins
    assert cfg["model"]["generator"]["kp_detector_cfg"]["max_features"] == 1024  # deep merge keeps
    assert cfg["model"]["train_params"]["scales"] == [1, 0.5]       # lists replace
    assert "_base_" not in cfg


def test_base_as_single_string_and_nested_bases(tmp_path):
    write(tmp_path / "a.yaml", MINIMAL)
    write(tmp_path / "b.yaml", "_base_: a.yaml\nepochs: 5\n")
    c = write(tmp_path / "c.yaml", "_base_: b.yaml\noutput_dir: out_c\n")
    cfg = load_config(c)
    assert cfg["epochs"] == 5 and cfg["output_dir"] == "out_c"


def test_base_cycle_is_detected(tmp_path):
    write(tmp_path / "a.yaml", "_base_: b.yaml\n" + MINIMAL)
    write(tmp_path / "b.yaml", "_base_: a.yaml\nepochs: 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "a.yaml")
    one_line_error(e, "cycle", "a.yaml", "b.yaml")


def test_missing_base_names_both_files(tmp_path):
    child = write(tmp_path / "child.yaml", "_base_: nowhere.yaml\n" + MINIMAL)
    with pytest.raises(ConfigError) as e:
        load_config(child)
    one_line_error(e, "nowhere.yaml", "child.yaml")


def test_dict_source_with_base(tmp_path, monkeypatch):
    write(tmp_path / "net.yaml", MINIMAL)
    monkeypatch.chdir(tmp_path)
    cfg = load_config({"_base_": "net.yaml", "epochs": 7})
    assert cfg["epochs"] == 7 and cfg["model"]["common_params"]["num_kp"] == 10


# ----------------------------------------------------------------------------- overrides


def test_parse_overrides_reads_values_as_yaml():
    pairs = parse_overrides([
        "epochs=50", "lr_scheduler.lr_generator=1.0e-4", "model.numerics.border_fix=true",
        "model.train_params.scales=[1, 0.5]", "output_dir=runs/a=b", "dataset.train.pairs_list=",
        "+model.generator.kp_detector_cfg.single_jacobian_map=True",
    ])
    assert pairs == [
        ("epochs", 50), ("lr_scheduler.lr_generator", 1.0e-4), ("model.numerics.border_fix", True),
        ("model.train_params.scales", [1, 0.5]), ("output_dir", "runs/a=b"), ("dataset.train.pairs_list", None),
        ("+model.generator.kp_detector_cfg.single_jacobian_map", True),
    ]
    assert parse_overrides(None) == []


@pytest.mark.parametrize("bad", ["epochs", "model.common_params.num_kp 10"])
def test_parse_overrides_without_equals(bad):
    with pytest.raises(ConfigError) as e:
        parse_overrides([bad])
    one_line_error(e, repr(bad), "'='")


@pytest.mark.parametrize("bad", ["=3", "a..b=3", ".a=1"])
def test_parse_overrides_bad_key(bad):
    with pytest.raises(ConfigError) as e:
        parse_overrides([bad])
    one_line_error(e, repr(bad))


def test_parse_overrides_bad_yaml_value():
    with pytest.raises(ConfigError) as e:
        parse_overrides(["model.train_params.scales=[1, 0.5"])
    one_line_error(e, "scales", "YAML")


def test_overrides_numbers_bools_lists_nested():
    cfg = load_config("firstorder_vox_256", [
        "epochs=10",
        "model.common_params.num_kp=15",
        "model.common_params.estimate_jacobian=false",
        "model.generator.generator_cfg.dense_motion_params.scale_factor=0.125",
        "model.train_params.loss_weights.perceptual=[1, 2, 3, 4, 5]",
        "lr_scheduler.lr_generator=2e-5",           # YAML 1.1 reads this as a string: made a number
        "dataset.train.batch_size=8",
        "model.numerics.align_corners=true",
        "model.numerics.antialias=nearest",
        "model.train_params.scales.1=0.75",         # a list element by index
    ])
    assert cfg["epochs"] == 10
    assert cfg["model"]["train_params"]["num_epochs"] == 10  # mirrors epochs
    assert cfg["model"]["common_params"]["num_kp"] == 15
    assert cfg["model"]["common_params"]["estimate_jacobian"] is False
    assert cfg["model"]["generator"]["generator_cfg"]["dense_motion_params"]["scale_factor"] == 0.125
    assert cfg["model"]["train_params"]["loss_weights"]["perceptual"] == [1, 2, 3, 4, 5]
    assert cfg["lr_scheduler"]["lr_generator"] == pytest.approx(2e-5)
    assert cfg["dataset"]["train"]["batch_size"] == 8
    assert cfg["dataset"]["test"]["batch_size"] == 1
    assert cfg["model"]["numerics"]["align_corners"] is True
    assert cfg["model"]["numerics"]["antialias"] == "nearest"
    assert cfg["model"]["train_params"]["scales"] == [1, 0.75, 0.25, 0.125]


def test_override_num_epochs_alone_moves_epochs():
    cfg = load_config("firstorder_vox_256", ["model.train_params.num_epochs=7"])
    assert cfg["epochs"] == 7 and cfg["model"]["train_params"]["num_epochs"] == 7


def test_override_does_not_leak_into_shared_values():
    cfg = load_config("configs/original/vox-256.yaml", ["dataset.train.frame_shape=[128, 128, 3]"])
    assert cfg["dataset"]["train"]["frame_shape"] == [128, 128, 3]
    assert cfg["dataset"]["test"]["frame_shape"] == [256, 256, 3]


def test_override_unknown_key_names_it_and_the_keys_there():
    with pytest.raises(ConfigError) as e:
        load_config("firstorder_vox_256", ["model.common_params.num_kpp=3"])
    msg = one_line_error(e, "model.common_params.num_kpp", "num_kp", "num_channels", "estimate_jacobian")
    assert "+model.common_params.num_kpp" in msg  # says how to add one


def test_override_unknown_intermediate_and_top_level_key():
    with pytest.raises(ConfigError) as e:
        load_config("firstorder_vox_256", ["model.generatr.kp_detector_cfg.num_blocks=4"])
    one_line_error(e, "model.generatr.kp_detector_cfg.num_blocks", "'generatr'", "generator", "common_params")
    with pytest.raises(ConfigError) as e:
        load_config("firstorder_vox_256", ["epoch=3"])
    one_line_error(e, "'epoch'", "top level", "epochs")


def test_override_plus_adds_a_key():
    cfg = load_config("firstorder_vox_256", ["+model.generator.kp_detector_cfg.single_jacobian_map=true"])
    assert cfg["model"]["generator"]["kp_detector_cfg"]["single_jacobian_map"] is True


def test_override_unknown_numerics_key():
    with pytest.raises(ConfigError) as e:
        load_config("firstorder_vox_256", ["model.numerics.align=true"])
    one_line_error(e, "model.numerics.align", "align_corners", "antialias", "border_fix")


def test_override_with_wrong_type_is_reported_by_key():
    with pytest.raises(ConfigError) as e:
        load_config("firstorder_vox_256", ["model.common_params.num_kp=ten"])
    one_line_error(e, "model.common_params.num_kp", "'ten'")
    with pytest.raises(ConfigError) as e:
        load_config("firstorder_vox_256", ["model.numerics.border_fix=maybe"])
    one_line_error(e, "model.numerics.border_fix", "maybe")


def test_apply_overrides_takes_parsed_pairs():
    cfg = {"a": {"b": 1}}
    assert apply_overrides(cfg, [("a.b", 2)]) == {"a.b"}
    assert cfg == {"a": {"b": 2}}


# ----------------------------------------------------------------------------- the original layout


def test_original_layout_converts_to_the_vox_config():
    ours = load_config(find_config("firstorder_vox_256"))
    orig = load_config(CONFIG_DIR / "original" / "vox-256.yaml")
    assert orig["model"]["numerics"]["config_layout"] == "original"
    assert ours["model"]["numerics"]["config_layout"] == "paddlegan"
    assert without_layout(orig["model"]) == without_layout(ours["model"])
    # The parts outside the model that the original defines agree too.
    for key in ("epochs", "lr_scheduler", "optimizer", "snapshot_config", "reconstruction_params",
                "animate_params", "visualizer_params"):
        assert orig[key] == ours[key], key
    for split in ("train", "test"):
        assert orig["dataset"][split] == ours["dataset"][split], split


def test_original_layout_details():
    cfg = load_config(CONFIG_DIR / "original" / "vox-256.yaml")
    assert set(cfg) >= {"epochs", "dataset", "model", "lr_scheduler", "optimizer"}
    assert "model_params" not in cfg and "dataset_params" not in cfg and "train_params" not in cfg
    train = cfg["dataset"]["train"]
    assert train["dataroot"] == "data/vox-png" and train["id_sampling"] is True
    assert train["time_flip"] is True and train["num_repeats"] == 75 and train["batch_size"] == 40
    assert [t["name"] for t in train["transforms"]] == ["PairedRandomHorizontalFlip", "PairedColorJitter"]
    assert cfg["lr_scheduler"] == {
        "name": "MultiStepDecay", "epoch_milestones": [60, 90], "milestone_unit": "epoch", "gamma": 0.1,
        "lr_generator": 2.0e-4, "lr_discriminator": 2.0e-4, "lr_kp_detector": 2.0e-4,
    }
    assert cfg["optimizer"] == {"name": "Adam", "beta1": 0.5, "beta2": 0.999}
    assert set(cfg["model"]["train_params"]) == {"num_epochs", "scales", "checkpoint_freq", "transform_params", "perceptual_loss",
                                                 "loss_weights"}


def test_original_augmentation_without_paddlegan_equivalent_is_kept():
    src = yaml.safe_load((CONFIG_DIR / "original" / "vox-256.yaml").read_text())
    src["dataset_params"]["augmentation_params"] = {
        "flip_param": {"horizontal_flip": False, "time_flip": True},
        "crop_param": {"size": [256, 256]},
        "resize_param": {"ratio": [0.9, 1.1]},
        "jitter_param": {"hue": 0.5},
    }
    src["dataset_params"]["image_shape"] = src["dataset_params"].pop("frame_shape")  # older key name
    train = load_config(src)["dataset"]["train"]
    assert train["frame_shape"] == [256, 256, 3]
    assert train["transforms"] == [{"name": "PairedColorJitter", "brightness": 0, "contrast": 0, "saturation": 0,
                                    "hue": 0.5, "keys": ["image", "image"]}]
    assert train["augmentation_params"] == {"crop_param": {"size": [256, 256]}, "resize_param": {"ratio": [0.9, 1.1]}}
    assert train["time_flip"] is True


def test_original_layout_needs_its_model_sections():
    src = yaml.safe_load((CONFIG_DIR / "original" / "vox-256.yaml").read_text())
    del src["model_params"]["generator_params"]
    with pytest.raises(ConfigError) as e:
        load_config(src)
    one_line_error(e, "model_params.generator_params")
    src = yaml.safe_load((CONFIG_DIR / "original" / "vox-256.yaml").read_text())
    src["model_params"]["kp_params"] = {}
    with pytest.raises(ConfigError) as e:
        load_config(src)
    one_line_error(e, "kp_params", "kp_detector_params")


def test_mixed_layouts_are_refused():
    src = yaml.safe_load((CONFIG_DIR / "original" / "vox-256.yaml").read_text())
    src["model"] = {}
    with pytest.raises(ConfigError) as e:
        load_config(src)
    one_line_error(e, "model_params", "model")


@pytest.mark.skipif(not FIXTURE.exists(), reason="no /work/shared fixtures here")
def test_fixture_config_converts():
    text = str(np.load(FIXTURE)["config_yaml"])
    cfg = load_config(yaml.safe_load(text))
    model = cfg["model"]
    assert model["numerics"]["config_layout"] == "original"
    kp = model["generator"]["kp_detector_cfg"]
    gen = model["generator"]["generator_cfg"]
    assert kp["block_expansion"] == 16 and kp["max_features"] == 128 and kp["num_blocks"] == 5
    assert gen["block_expansion"] == 16 and gen["max_features"] == 128
    assert gen["dense_motion_params"]["block_expansion"] == 16 and gen["dense_motion_params"]["max_features"] == 128
    assert model["common_params"] == {"num_kp": 10, "num_channels": 3, "estimate_jacobian": True}
    assert cfg["dataset"]["train"]["frame_shape"] == [128, 128, 3]


# ----------------------------------------------------------------------------- PaddleGAN's layout


def test_paddlegan_layout_is_normalized():
    # As PaddleGAN writes them: milestones in iterations, pairs_list: None (a string to YAML),
    # no scheduler name, train_params at the top (its mgif config), no numerics section.
    src = yaml.safe_load(MINIMAL)
    del src["model"]["train_params"]
    src.update({
        "epochs": 150,
        "train_params": {"scales": [1, 0.5], "checkpoint_freq": 100},
        "dataset": {"train": {"name": "FirstOrderDataset", "pairs_list": "None", "frame_shape": [256, 256, 3]}},
        "lr_scheduler": {"epoch_milestones": [187500, 281250], "lr_generator": 2.0e-4},
        "optimizer": {"name": "Adam"},
        "snapshot_config": {"interval": 10},
        "log_config": {"interval": 10, "visiual_interval": 10},
        "export_model": [{}],
    })
    cfg = load_config(src)
    assert "train_params" not in cfg
    assert cfg["model"]["train_params"] == {"scales": [1, 0.5], "checkpoint_freq": 100}
    assert cfg["model"]["name"] == "FirstOrderModel" and cfg["model"]["generator"]["name"] == "FirstOrderGenerator"
    assert cfg["dataset"]["train"]["pairs_list"] is None
    assert cfg["lr_scheduler"]["name"] == "MultiStepDecay" and cfg["lr_scheduler"]["gamma"] == 0.1
    assert cfg["lr_scheduler"]["milestone_unit"] == "iter"
    assert cfg["optimizer"] == {"name": "Adam"}  # PaddleGAN's own choice is left alone
    assert cfg["model"]["numerics"] == {**NUMERICS_DEFAULTS, "config_layout": "paddlegan"}


def test_numerics_defaults_merge_under_the_config(tmp_path):
    path = write(tmp_path / "c.yaml", MINIMAL + "  numerics: {align_corners: false}\n")
    cfg = load_config(path)
    assert cfg["model"]["numerics"] == {"align_corners": False, "antialias": "strided", "border_fix": False,
                                        "config_layout": "paddlegan"}


def test_explicit_config_layout_is_kept(tmp_path):
    path = write(tmp_path / "c.yaml", MINIMAL + "  numerics: {config_layout: original}\n")
    assert load_config(path)["model"]["numerics"]["config_layout"] == "original"


# ----------------------------------------------------------------------------- shipped configs


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=[str(p.relative_to(CONFIG_DIR)) for p in ALL_CONFIGS])
def test_every_shipped_config_loads(path):
    cfg = load_config(path)
    model = cfg["model"]
    assert set(model["generator"]) >= {"kp_detector_cfg", "generator_cfg"}
    # Our own trained models pin the convention they were trained with; the mobile vox config pins
    # PaddleGAN's (a student trained from scratch must match its vox-cpk teacher); the others
    # follow the weights.
    pinned = {"firstorder_synthetic_64": True, "firstorder_synthetic_64_mobile": True,
              "firstorder_synthetic_64_mobile_pruned": True,
              "firstorder_vox_mobile_256": True}
    expected = pinned.get(path.stem, "auto")
    assert model["numerics"]["align_corners"] == expected and model["numerics"]["border_fix"] is False
    assert cfg["lr_scheduler"]["milestone_unit"] == "epoch"
    if "original" not in path.parts and "_base_" not in path.parts:
        assert find_config(path.stem) == path
        assert cfg["dataset"]["train"]["dataroot"] and cfg["dataset"]["test"]["dataroot"]


def test_shipped_configs_are_the_originals_values():
    def load(name):
        return load_config(find_config(name))

    vox512 = load("firstorder_vox_512")
    assert vox512["dataset"]["train"]["frame_shape"] == [512, 512, 3]
    assert vox512["dataset"]["test"]["frame_shape"] == [512, 512, 3]
    assert vox512["model"]["generator"]["kp_detector_cfg"]["scale_factor"] == 0.25  # as PaddleGAN runs it
    vox = load("firstorder_vox_256")
    assert without_layout(vox512["model"]) == without_layout(vox["model"])

    mgif = load("firstorder_mgif")
    assert mgif["model"]["generator"]["kp_detector_cfg"]["single_jacobian_map"] is True
    assert mgif["model"]["discriminator"]["discriminator_cfg"]["sn"] is True
    assert "use_kp" not in mgif["model"]["discriminator"]["discriminator_cfg"]
    assert mgif["model"]["train_params"]["checkpoint_freq"] == 100
    assert mgif["model"]["train_params"]["loss_weights"]["generator_gan"] == 1
    assert (mgif["dataset"]["train"]["num_repeats"], mgif["dataset"]["train"]["batch_size"]) == (25, 36)
    assert mgif["dataset"]["train"]["augmentation_params"]["resize_param"] == {"ratio": [0.9, 1.1]}

    fashion = load("firstorder_fashion")
    assert fashion["model"]["discriminator"]["discriminator_cfg"]["sn"] is False
    assert fashion["model"]["train_params"]["loss_weights"]["generator_gan"] == 1
    assert (fashion["dataset"]["train"]["num_repeats"], fashion["dataset"]["train"]["batch_size"]) == (50, 27)
    assert fashion["dataset"]["train"]["id_sampling"] is False

    taichi = load("firstorder_taichi_256")
    assert taichi["model"]["discriminator"]["discriminator_cfg"]["sn"] is False
    assert taichi["model"]["train_params"]["loss_weights"]["generator_gan"] == 0
    assert (taichi["dataset"]["train"]["num_repeats"], taichi["dataset"]["train"]["batch_size"]) == (150, 30)
    assert taichi["dataset"]["train"]["pairs_list"] == "data/taichi256.csv"


# ----------------------------------------------------------------------------- find_config


def test_find_config_names_and_paths(tmp_path):
    vox = CONFIG_DIR / "firstorder_vox_256.yaml"
    assert find_config("firstorder_vox_256") == vox
    assert find_config("firstorder_vox_256.yaml") == vox
    assert find_config("vox_256") == vox
    assert find_config("original/vox-256") == CONFIG_DIR / "original" / "vox-256.yaml"
    mine = write(tmp_path / "mine.yaml", MINIMAL)
    assert find_config(str(mine)) == mine


def test_find_config_unknown_lists_the_available():
    with pytest.raises(ConfigError) as e:
        find_config("firstorder_vox_1024")
    one_line_error(e, "firstorder_vox_1024", "firstorder_vox_256", "firstorder_mgif")


# ----------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "absent.yaml")
    one_line_error(e, "absent.yaml")


def test_broken_yaml_names_file_and_line(tmp_path):
    path = write(tmp_path / "broken.yaml", "epochs: 10\nmodel:\n  common_params: {num_kp: 10\n  generator: {}\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    one_line_error(e, "broken.yaml", "line ")


def test_top_level_not_a_mapping(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path / "list.yaml", "- a\n- b\n"))
    one_line_error(e, "list.yaml", "mapping")
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path / "empty.yaml", "# nothing\n"))
    one_line_error(e, "empty.yaml", "empty")


def test_unknown_top_level_key(tmp_path):
    path = write(tmp_path / "c.yaml", MINIMAL + "epochz: 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    one_line_error(e, "c.yaml", "epochz", "epochs")


def test_missing_model_section(tmp_path):
    path = write(tmp_path / "c.yaml", "epochs: 3\noutput_dir: out\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    one_line_error(e, "c.yaml", "'model'")


@pytest.mark.parametrize("section", ["common_params", "generator"])
def test_missing_model_subsection(tmp_path, section):
    src = yaml.safe_load(MINIMAL)
    del src["model"][section]
    path = write(tmp_path / "c.yaml", yaml.safe_dump(src))
    with pytest.raises(ConfigError) as e:
        load_config(path)
    one_line_error(e, "c.yaml", f"model.{section}")


@pytest.mark.parametrize("key,value,needle", [
    ("align_corners", "maybe", "model.numerics.align_corners"),
    ("antialias", "bilinear", "model.numerics.antialias"),
    ("border_fix", "'yes'", "model.numerics.border_fix"),
    ("colour", "red", "colour"),
])
def test_bad_numerics(tmp_path, key, value, needle):
    path = write(tmp_path / "c.yaml", MINIMAL + f"  numerics: {{{key}: {value}}}\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    one_line_error(e, "c.yaml", needle)


@pytest.mark.parametrize("yaml_text,needle", [
    (MINIMAL.replace("num_kp: 10", "num_kp: ten"), "model.common_params.num_kp"),
    (MINIMAL.replace("estimate_jacobian: true", "estimate_jacobian: 3"), "model.common_params.estimate_jacobian"),
    (MINIMAL.replace("block_expansion: 32", "block_expansion: 3.5"), "model.generator.kp_detector_cfg.block_expansion"),
    (MINIMAL.replace("scales: [1, 0.5, 0.25, 0.125]", "scales: one"), "model.train_params.scales"),
    (MINIMAL + "epochs: -1\n", "epochs"),
    (MINIMAL.replace("  generator:\n", "  generator: 3\n  unused:\n"), "model.generator"),
])
def test_wrong_types(tmp_path, yaml_text, needle):
    path = write(tmp_path / "c.yaml", yaml_text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    one_line_error(e, "c.yaml", needle)


def test_network_keys_are_not_checked_here(tmp_path):
    # Unknown keys inside the network sections are the builders' to report, by constructor keyword.
    path = write(tmp_path / "c.yaml", MINIMAL.replace("num_blocks: 5}", "num_blocks: 5, mobile_net: true}"))
    assert load_config(path)["model"]["generator"]["kp_detector_cfg"]["mobile_net"] is True


def test_not_a_source():
    with pytest.raises(ConfigError) as e:
        load_config(42)
    one_line_error(e, "int")


def test_null_drops_an_inherited_section(tmp_path):
    write(tmp_path / "base.yaml", MINIMAL + "  discriminator: {discriminator_cfg: {scales: [1]}}\nvalidate: {interval: 5}\n")
    child = write(tmp_path / "child.yaml", "_base_: base.yaml\nvalidate: null\nmodel: {discriminator: null}\n")
    cfg = load_config(child)
    assert "validate" not in cfg and "discriminator" not in cfg["model"]


def test_override_of_whole_numerics_keeps_defaults_and_layout():
    cfg = load_config("configs/original/vox-256.yaml", ["model.numerics={align_corners: true}"])
    assert cfg["model"]["numerics"] == {"align_corners": True, "antialias": "strided", "border_fix": False,
                                        "config_layout": "original"}


def test_override_pairs_list_none():
    cfg = load_config("firstorder_vox_256", ["dataset.train.pairs_list=None"])
    assert cfg["dataset"]["train"]["pairs_list"] is None
