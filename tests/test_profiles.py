"""Profiles: resolution rules and the banner."""

import pytest

import lab_utils as lu


def test_explicit_profile_wins_over_environment(monkeypatch):
    monkeypatch.setenv("LAB_PROFILE", "smoke")
    assert lu.resolve_profile("cpu") == "cpu"
    assert lu.resolve_profile("auto") == "smoke"


def test_auto_picks_full_on_cuda_and_cpu_elsewhere(monkeypatch):
    monkeypatch.delenv("LAB_PROFILE", raising=False)
    assert lu.resolve_profile("auto", device="cpu") == "cpu"
    assert lu.resolve_profile("auto", device="cuda") == "full"


def test_typos_are_explained(monkeypatch):
    with pytest.raises(ValueError, match="Unknown profile 'fast'.*smoke"):
        lu.resolve_profile("fast")
    monkeypatch.setenv("LAB_PROFILE", "gpu")
    with pytest.raises(ValueError, match="LAB_PROFILE='gpu'"):
        lu.resolve_profile("auto")
    with pytest.raises(ValueError, match="Known labs"):
        lu.profile_settings("99_nothing", "cpu")


def test_every_lab_defines_every_profile_with_the_same_keys():
    for lab, table in lu.PROFILES.items():
        assert set(table) == set(lu.PROFILE_NAMES), lab
        keys = {frozenset(row) for row in table.values()}
        assert len(keys) == 1, f"{lab}: profiles disagree on their keys"


def test_start_lab_banner_is_loud_on_cpu(monkeypatch, tmp_path):
    monkeypatch.delenv("LAB_PROFILE", raising=False)
    run = lu.start_lab(
        "01_data_exploration", "smoke", seed=3, data_dir=tmp_path, device="cpu"
    )
    banner = run.banner()
    assert run.profile == "smoke" and run.settings["samples_per_class"] == 1
    assert "profile smoke" in banner and "seed 3" in banner
    assert "NO GPU" in banner and "Change runtime type" in banner
    # folders as given (issue 32): here an absolute one
    assert f"data: {tmp_path} | results: " in banner
    assert "finished in" in run.finish()


def test_smoke_and_cpu_say_what_their_numbers_are(monkeypatch, tmp_path):
    monkeypatch.delenv("LAB_PROFILE", raising=False)
    said = {}
    for profile in ("smoke", "cpu", "full"):
        run = lu.start_lab(
            "06_vae_faces", profile, data_dir=tmp_path, device="cpu"
        )
        said[profile] = run.caveat()
        if profile != "full":
            assert "What these numbers are:" in run.banner()
    assert said["full"] == ""  # the text describes full-size results
    assert said["smoke"].startswith("\n(smoke profile: ")
    assert "mean nothing" in said["smoke"] and "near chance" in said["smoke"]
    assert "lower than the full profile's" in said["cpu"]
