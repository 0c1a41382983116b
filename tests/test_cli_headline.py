"""The headline editing commands, exactly as the README writes them, with no -g and no training:

    stylegan-invert morph a.npy b.npy --gif
    stylegan-invert edit latent.npy --boundary smile --strength 2

The official FFHQ generator and its published directions are stood in for by the tiny fixture network
and direction files made for it, served from 127.0.0.1 (tests/directions_helpers.py).
"""
import json
import logging
import shutil

import numpy as np
from PIL import Image

from directions_helpers import fake_ffhq, sha256
from editing_helpers import error_line, output_paths, read_animation, run
from invert.checkpoints import load_generator
from invert.latents import save_latent
from invert.records import latent_record
from invert.render import render

assert fake_ffhq  # a fixture, used by name


def projected(G, names, folder, *, spec="ffhq-1024", seed=0):
    """Latents as `project` writes them (a W+ code and its record naming `spec`); returns {name: w}."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in names:
        w = (G.w_avg.numpy() + rng.standard_normal([G.num_ws, G.w_dim])).astype(np.float32)
        save_latent(folder / f"{name}.npy", w, record=latent_record(G, generator_spec=spec, command="project",
                                                                    inputs=[f"{name}.png"]))
        out[name] = w
    return out


def test_morph_as_written(fake_ffhq, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    G = load_generator("ffhq-1024")  # downloads the stand-in from 127.0.0.1 once
    ws = projected(G, ["a", "b"], tmp_path)
    fake_ffhq.server.requests.clear()

    result = run("morph", "a.npy", "b.npy", "--gif")
    assert result.exit_code == 0, result.output
    assert output_paths(result) == ["a_b_morph.npy", "a_b_morph.json", "a_b_morph.png", "a_b_morph.gif"]
    assert fake_ffhq.server.requests == []  # the generator came from the cache, named by the records
    mid = np.load("a_b_morph.npy")
    np.testing.assert_allclose(mid, (ws["a"] + ws["b"]) / 2, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(np.asarray(Image.open("a_b_morph.png")), render(G, mid[None])[0])
    assert read_animation("a_b_morph.gif").shape == (30, G.resolution, G.resolution, 3)
    record = json.loads((tmp_path / "a_b_morph.json").read_text())
    assert record["generator"]["spec"] == "ffhq-1024" and record["inputs"] == ["a.npy", "b.npy"]
    assert record["generator"]["fingerprint"] == G.source["fingerprint"] and record["command"] == "morph"


def test_edit_smile_as_written_downloads_the_published_direction(fake_ffhq, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    G = load_generator("ffhq-1024")
    w = projected(G, ["latent"], tmp_path)["latent"]
    fake_ffhq.server.requests.clear()

    result = run("edit", "latent.npy", "--boundary", "smile", "--strength", 2)
    assert result.exit_code == 0, result.output
    assert output_paths(result) == ["latent_smile+2.0.npy", "latent_smile+2.0.json", "latent_smile+2.0.png"]
    smile = fake_ffhq.tensors["smile"].numpy().astype(np.float64)[0]
    # float32 latents: w + 2 n agrees with the float64 computation to rounding
    np.testing.assert_allclose(np.load("latent_smile+2.0.npy"), w + 2 * smile / np.linalg.norm(smile), atol=1e-5)
    assert fake_ffhq.server.requests == ["smile.pt"]
    from invert.directions.catalogue import published_path

    assert published_path(fake_ffhq.entries["smile"]).read_bytes() == fake_ffhq.files["smile.pt"]

    # a second edit uses the cached file: no new request
    fake_ffhq.server.requests.clear()
    assert run("edit", "latent.npy", "--boundary", "smile", "--strength", -1).exit_code == 0
    assert fake_ffhq.server.requests == []


def test_the_same_network_from_another_format_finds_the_catalogue(fake_ffhq, tmp_path, monkeypatch):
    """A latent recorded for ffhq-1024-tf (the TF file of the same network) edits with the published smile."""
    monkeypatch.chdir(tmp_path)
    G = load_generator("ffhq-1024-tf")
    w = projected(G, ["latent"], tmp_path, spec="ffhq-1024-tf")["latent"]
    assert run("edit", "latent.npy", "--boundary", "smile").exit_code == 0
    smile = fake_ffhq.tensors["smile"].numpy().astype(np.float64)[0]
    np.testing.assert_allclose(np.load("latent_smile+2.0.npy"), w + 2 * smile / np.linalg.norm(smile), atol=1e-5)


def test_a_moved_generator_file_is_found_by_its_spec(fake_ffhq, tmp_path, monkeypatch):
    """The record's resolved file is gone (cache cleared): the recorded registry name downloads it again."""
    from invert import weights

    monkeypatch.chdir(tmp_path)
    G = load_generator("ffhq-1024")
    projected(G, ["a", "b"], tmp_path)
    weights.cached_path("ffhq-1024").unlink()
    fake_ffhq.server.requests.clear()
    assert run("morph", "a.npy", "b.npy", "--frames", 2).exit_code == 0
    assert fake_ffhq.server.requests == ["stylegan2-ffhq-1024x1024.pkl"]


def test_latents_of_two_networks_are_refused(fake_ffhq, tmp_path, monkeypatch, sg2_dir):
    monkeypatch.chdir(tmp_path)
    projected(load_generator("ffhq-1024"), ["a"], tmp_path)
    small = load_generator(sg2_dir / "small_ada.pkl")
    save_latent(tmp_path / "b.npy", np.zeros([small.num_ws, small.w_dim], np.float32),
                record=latent_record(small, generator_spec=str(sg2_dir / "small_ada.pkl"), command="project"))
    line = error_line(run("morph", "a.npy", "b.npy", "--gif"))
    tiny_print, small_print = load_generator("ffhq-1024").source["fingerprint"], small.source["fingerprint"]
    assert line == (f"Error: a.npy belongs to ffhq-1024 (network {tiny_print[:12]}) but b.npy to "
                    f"{sg2_dir / 'small_ada.pkl'} (network {small_print[:12]}) (see their records a.json and "
                    f"b.json); latents of different networks cannot be combined (-g GENERATOR chooses one)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.npy", "b.json", "b.npy"]


def test_a_latent_without_record_falls_back_to_ffhq_with_a_note(fake_ffhq, tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    G = load_generator("ffhq-1024")
    w = projected(G, ["latent"], tmp_path)["latent"]
    (tmp_path / "latent.json").unlink()  # e.g. a latent from another tool
    with caplog.at_level(logging.WARNING):
        result = run("edit", "latent.npy", "--boundary", "smile")
    assert result.exit_code == 0, result.output
    notes = [r.getMessage() for r in caplog.records if r.getMessage().startswith("note:")]
    assert notes == ["note: no record beside latent.npy says which generator made it; using ffhq-1024"]
    assert np.load("latent_smile+2.0.npy").shape == w.shape
    assert json.loads((tmp_path / "latent_smile+2.0.json").read_text())["generator"]["spec"] == "ffhq-1024"


def test_a_record_whose_file_now_holds_another_network_is_refused(fake_ffhq, tmp_path, monkeypatch, sg2_dir):
    monkeypatch.chdir(tmp_path)
    G = load_generator("ffhq-1024")
    projected(G, ["latent"], tmp_path)
    shutil.copy(sg2_dir / "small_ada.pkl", G.source["path"])  # someone replaced the cached file
    line = error_line(run("edit", "latent.npy", "--boundary", "smile"))
    assert line.startswith(f"Error: the latents' record latent.json names ffhq-1024 (network "
                           f"{G.source['fingerprint'][:12]}), but {G.source['path']} now holds network ")
    assert line.endswith("name the generator the latents were made with explicitly (-g GENERATOR chooses one)")


def test_g_overrides_a_record_with_a_warning(fake_ffhq, tmp_path, monkeypatch, caplog):
    """-g wins: applying a latent to another network of the same shape (a fine-tuned one) is legitimate."""
    monkeypatch.chdir(tmp_path)
    G = load_generator("ffhq-1024")
    w = projected(G, ["latent"], tmp_path)["latent"]
    np.save(tmp_path / "up.npy", np.ones([1, G.w_dim], np.float32))
    with caplog.at_level(logging.WARNING):
        result = run("edit", "latent.npy", "-g", "random:32", "--boundary", "up.npy", "--strength", 1)
    assert result.exit_code == 0, result.output
    other = load_generator("random:32").source["fingerprint"]
    assert (f"warning: latent.npy was made with ffhq-1024 (network {G.source['fingerprint'][:12]}), not with "
            f"random:32 (network {other[:12]}) as asked") in caplog.text
    np.testing.assert_allclose(np.load("latent_up+1.0.npy"), w + 1 / np.sqrt(G.w_dim), atol=1e-6)
    assert json.loads((tmp_path / "latent_up+1.0.json").read_text())["generator"]["spec"] == "random:32"


def test_published_per_layer_pose_keeps_its_layer_weights(fake_ffhq, tmp_path, monkeypatch):
    """encoder4editing adds pose as stored (w + f * pose); here it is scaled as a whole to a root-mean-square
    row length of 1, so each layer moves in proportion to its row, and --strength is the typical distance."""
    monkeypatch.chdir(tmp_path)
    G = load_generator("ffhq-1024")
    w = projected(G, ["latent"], tmp_path)["latent"]
    assert run("edit", "latent.npy", "--boundary", "pose", "--strength", 1.5).exit_code == 0
    pose = fake_ffhq.tensors["pose"].numpy().astype(np.float64)[0]            # [num_ws, w_dim], row 5 zero
    norms = np.linalg.norm(pose, axis=1)
    expected = w + 1.5 * pose / np.sqrt(np.mean(norms[norms > 0] ** 2))
    edited = np.load("latent_pose+1.5.npy")
    np.testing.assert_allclose(edited, expected, atol=1e-5)
    np.testing.assert_array_equal(edited[5], w[5])
    moved = np.linalg.norm(edited.astype(np.float64) - w, axis=1)
    np.testing.assert_allclose(np.sqrt(np.mean(np.delete(moved, 5) ** 2)), 1.5, rtol=1e-5)
    np.testing.assert_allclose(np.delete(moved / norms.clip(1e-30), 5), 1.5 / np.sqrt(np.mean(norms[norms > 0] ** 2)),
                               rtol=1e-4)  # in proportion to each row


def test_published_ganspace_component_in_sigma_units(fake_ffhq, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    G = load_generator("ffhq-1024")
    w = projected(G, ["latent"], tmp_path)["latent"]
    result = run("edit", "latent.npy", "--boundary", "ganspace:2", "--strength", 1.5, "--layers", "0-3")
    assert result.exit_code == 0, result.output
    pca = {k: v.numpy().astype(np.float64) for k, v in fake_ffhq.tensors["ganspace"].items()}
    component = pca["comp"][2, 0] / np.linalg.norm(pca["comp"][2, 0])
    expected = w.astype(np.float64).copy()
    expected[:4] += 1.5 * pca["std"][2] * component       # GANSpace: w + sigma * std_k * comp_k on the chosen layers
    np.testing.assert_allclose(np.load("latent_ganspace_2+1.5.npy"), expected, atol=1e-5)

    line = error_line(run("edit", "latent.npy", "--boundary", "ganspace", "--out", "x.npy"))
    assert line == "Error: ganspace is a set of 6 directions; pick one as ganspace:K with K in 0-5"
    line = error_line(run("edit", "latent.npy", "--boundary", "ganspace:6", "--out", "x.npy"))
    assert line == "Error: ganspace holds 6 directions, numbered 0-5; there is no direction 6"


def test_a_users_own_boundary_wins_over_the_published_one(fake_ffhq, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    G = load_generator("ffhq-1024")
    w = projected(G, ["latent"], tmp_path)["latent"]
    mine = np.zeros([1, G.w_dim], np.float32)
    mine[0, 7] = 1
    np.save(tmp_path / "mine.npy", mine)
    assert run("boundaries", "register", "mine.npy", "-g", "ffhq-1024", "--name", "smile").exit_code == 0
    fake_ffhq.server.requests.clear()
    assert run("edit", "latent.npy", "--boundary", "smile").exit_code == 0
    np.testing.assert_allclose(np.load("latent_smile+2.0.npy"), w + 2 * mine, atol=1e-6)
    assert fake_ffhq.server.requests == []  # the published file was not even fetched


def test_offline_and_wrong_checksum_through_the_command_line(fake_ffhq, tmp_path, monkeypatch):
    from invert.directions.catalogue import published_path

    monkeypatch.chdir(tmp_path)
    G = load_generator("ffhq-1024")
    projected(G, ["latent"], tmp_path)
    entry = fake_ffhq.entries["age"]
    fake_ffhq.server.files["age.pt"] = b"tampered"        # the server now serves other bytes
    line = error_line(run("edit", "latent.npy", "--boundary", "age"))
    assert line.startswith("Error: the published direction 'age' is not available (")
    assert f"has sha256 {sha256(b'tampered')}, expected {entry.sha256}" in line
    assert line.endswith(f"its file age.pt comes from {entry.url}: put a copy with sha256 {entry.sha256} at "
                         f"{published_path(entry)}")
    assert not published_path(entry).exists() and not (tmp_path / "latent_age+2.0.npy").exists()

    fake_ffhq.server.close()                               # offline
    line = error_line(run("edit", "latent.npy", "--boundary", "age"))
    assert line.startswith("Error: the published direction 'age' is not available (could not download")
    assert line.endswith(f"its file age.pt comes from {entry.url}: put a copy with sha256 {entry.sha256} at "
                         f"{published_path(entry)}")
    published_path(entry).parent.mkdir(parents=True, exist_ok=True)
    published_path(entry).write_bytes(fake_ffhq.files["age.pt"])   # put there by hand, as the message says
    assert run("edit", "latent.npy", "--boundary", "age").exit_code == 0
