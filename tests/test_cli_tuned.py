"""Tuned updates through the editing commands: each input's record names its update, which edit, morph,
crossover, expression and render apply (or not, with --no-tuned), and which the results' records carry on."""
import json
import os

import numpy as np
import pytest
from PIL import Image

import editing_helpers
from editing_helpers import RANDOM, error_line, load, output_paths, random_noise, run, sample_ws
from invert.latents import default_noise
from invert.render import render
from invert.tuning import apply_update, blend_updates, describe_update, load_update, save_update
from tuning_helpers import directly_updated, random_update, save_tuned_latent

spec = editing_helpers.spec
reuse_generators = editing_helpers.reuse_generators

# An update of N(0, 0.2²) entries moves these random-weight images by 20-35 levels on average: far more than
# the one level that separates two renders of the same weights rounded differently (see `close_in_uint8`).
SIZE = 0.2


def png(path):
    return np.asarray(Image.open(path))


def png_text(path):
    return Image.open(path).text


def tuned_render(G, update, ws, noise=None):
    """What the commands do: G with `update` applied (invert.tuning.apply_update), one render call."""
    return render(apply_update(G, update), ws, noise=noise)


def close_in_uint8(image, G, weighted, ws, noise=None):
    """`image` (uint8) is the render of `ws` with G's weights plus sum(weight * ΔW) computed independently
    (float64, rounded once: tuning_helpers.directly_updated). The two weight sets differ by float32
    rounding, which moves the float images by ~1e-6 of their range, so a pixel can land one 8-bit level
    apart where it sits on a rounding boundary, never more."""
    expected = render(directly_updated(G, weighted), ws, noise=noise).astype(int)
    assert np.abs(image.astype(int) - expected).max() <= 1


def far_from(image, other):
    """The update changed the image: mean difference of several 8-bit levels (it is 20-35 with SIZE)."""
    assert np.abs(image.astype(float) - other.astype(float)).mean() > 5


@pytest.fixture
def animation_frames(monkeypatch):
    """{file name: uint8 frames [T, R, R, 3]} as the commands hand them to the GIF/MP4 writer (both lossy), so
    frames can be compared exactly; the files are still written."""
    import invert.images

    real = invert.images.AnimationWriter
    captured = {}

    class Recording(real):
        def append(self, frames):
            frames = np.asarray(frames)
            captured.setdefault(self.path.name, []).extend(frames if frames.ndim == 4 else frames[None])
            return super().append(frames)

    monkeypatch.setattr(invert.images, "AnimationWriter", Recording)
    return {"frames": captured}


def frames_of(captured, name):
    return np.stack(captured["frames"][name])


# ---------------------------------------------------------------------------------------------------
# edit


@pytest.mark.numerics
def test_edit_renders_through_the_latents_update_and_carries_it_on(tmp_path, spec, animation_frames):
    G = load(spec)
    w = sample_ws(G, 1, seed=30)[0]
    noise = random_noise(G, seed=31)
    update = random_update(G, 4, seed=32, size=SIZE)
    latent = tmp_path / "photo.npy"
    update_path = save_tuned_latent(latent, G, w, update, spec=spec, noise=noise)
    direction = np.random.default_rng(0).standard_normal(G.w_dim).astype(np.float32)
    direction /= np.linalg.norm(direction)
    np.save(tmp_path / "smile.npy", direction)
    out = tmp_path / "sub" / "e.npy"  # another folder: the record's path must lead back to the update

    result = run("edit", latent, "-b", tmp_path / "smile.npy", "--strength", 2, "--sweep", "-1:1:3", "--out", out)
    assert result.exit_code == 0, result.output
    edited = np.load(out)
    image = png(out.with_suffix(".png"))
    # the command renders exactly this (the file round-trips bit for bit; same code, same batch)
    np.testing.assert_array_equal(image, tuned_render(G, update, edited[None], noise)[0])
    close_in_uint8(image, G, [(update, 1.0)], edited[None], noise)
    far_from(image, render(G, edited[None], noise=noise)[0])
    np.testing.assert_allclose(edited, w + 2 * direction, atol=1e-5)
    sweep_ws = np.stack([w + s * direction for s in (-1, 0, 1)])
    sweep = frames_of(animation_frames, "e_sweep.gif")
    close_in_uint8(sweep[1], G, [(update, 1.0)], w[None], noise)  # strength 0 is the tuned photo itself
    # the sweep's latents, computed here and in the command, may differ in their last bit: one level at most
    assert np.abs(sweep.astype(int) - tuned_render(G, update, sweep_ws, noise).astype(int)).max() <= 1

    record = json.loads(out.with_suffix(".json").read_text())
    assert record["tuned"] == os.path.join("..", "photo_tuned.safetensors")
    reloaded = load_update(out.parent / record["tuned"], G)
    assert all(np.array_equal(reloaded.tensors[k], update.tensors[k]) for k in update.tensors)
    text = png_text(out.with_suffix(".png"))
    assert text["tuned_update"] == os.path.abspath(update_path) and text["tuned_rank"] == "4"

    plain = run("edit", latent, "-b", tmp_path / "smile.npy", "--strength", 2, "--no-tuned", "--out",
                tmp_path / "plain.npy")
    assert plain.exit_code == 0, plain.output
    np.testing.assert_array_equal(png(tmp_path / "plain.png"), render(G, edited[None], noise=noise)[0])
    assert json.loads((tmp_path / "plain.json").read_text())["tuned"] is None
    assert "tuned_update" not in png_text(tmp_path / "plain.png")


# ---------------------------------------------------------------------------------------------------
# crossover and expression: the content's / the target's update


@pytest.mark.numerics
def test_crossover_renders_through_the_content_update(tmp_path, caplog):
    G = load(RANDOM)
    c, s = sample_ws(G, 2, seed=33)
    update_c, update_s = random_update(G, 4, seed=34, size=SIZE), random_update(G, 1, seed=35, size=SIZE)
    save_tuned_latent(tmp_path / "c.npy", G, c, update_c, spec=RANDOM)
    style_update = save_tuned_latent(tmp_path / "s.npy", G, s, update_s, spec=RANDOM)
    with caplog.at_level("INFO"):
        result = run("crossover", tmp_path / "c.npy", tmp_path / "s.npy", "--split", 4)
    assert result.exit_code == 0, result.output
    w = np.load(tmp_path / "c_s_crossover.npy")
    image = png(tmp_path / "c_s_crossover.png")
    np.testing.assert_array_equal(image, tuned_render(G, update_c, w[None])[0])
    close_in_uint8(image, G, [(update_c, 1.0)], w[None])
    assert json.loads((tmp_path / "c_s_crossover.json").read_text())["tuned"] == "c_tuned.safetensors"
    assert (f"crossover: the tuned update of {tmp_path / 's.npy'} ({style_update}) is not used; crossover renders "
            f"through {tmp_path / 'c.npy'}'s") in caplog.text + result.stderr

    plain = run("crossover", tmp_path / "c.npy", tmp_path / "s.npy", "--split", 4, "--no-tuned", "--out",
                tmp_path / "p.npy")
    assert plain.exit_code == 0, plain.output
    np.testing.assert_array_equal(png(tmp_path / "p.png"), render(G, w[None])[0])
    far_from(image, png(tmp_path / "p.png"))


@pytest.mark.numerics
def test_expression_renders_through_the_target_update_only(tmp_path, caplog):
    G = load(RANDOM)
    w1, w2, w3 = sample_ws(G, 3, seed=36)
    update = random_update(G, "full", seed=37, size=SIZE)
    save_tuned_latent(tmp_path / "t.npy", G, w1, update, spec=RANDOM)
    np.save(tmp_path / "n.npy", w2)
    neutral_update = save_tuned_latent(tmp_path / "e.npy", G, w3, random_update(G, 4, seed=38, size=SIZE),
                                       spec=RANDOM)
    paths = [tmp_path / name for name in ("t.npy", "n.npy", "e.npy")]
    result = run("expression", *paths, "--strength", 0.5, "--out", tmp_path / "x.npy")
    assert result.exit_code == 0, result.output
    w = np.load(tmp_path / "x.npy")
    image = png(tmp_path / "x.png")
    np.testing.assert_array_equal(image, tuned_render(G, update, w[None])[0])
    close_in_uint8(image, G, [(update, 1.0)], w[None])
    assert json.loads((tmp_path / "x.json").read_text())["tuned"] == "t_tuned.safetensors"

    # an untuned target: the result is the plain rendering, although EXPRESSIVE has an update
    with caplog.at_level("INFO"):
        result = run("expression", paths[1], paths[0], paths[2], "--out", tmp_path / "y.npy")
    assert result.exit_code == 0, result.output
    y = np.load(tmp_path / "y.npy")
    np.testing.assert_array_equal(png(tmp_path / "y.png"), render(G, y[None])[0])
    assert json.loads((tmp_path / "y.json").read_text())["tuned"] is None
    assert (f"expression: the tuned update of {paths[2]} ({neutral_update}) is not used; expression renders through "
            f"{paths[1]}'s, which has none") in caplog.text + result.stderr


# ---------------------------------------------------------------------------------------------------
# morph: the updates are blended frame by frame


@pytest.mark.numerics
def test_morph_blends_the_two_updates_and_saves_the_midpoints(tmp_path, animation_frames):
    G = load(RANDOM)
    a, b = sample_ws(G, 2, seed=40)
    noise_a = random_noise(G, seed=41)
    update_a, update_b = random_update(G, 4, seed=42, size=SIZE), random_update(G, 1, seed=43, size=SIZE)
    save_tuned_latent(tmp_path / "a.npy", G, a, update_a, spec=RANDOM, noise=noise_a)
    save_tuned_latent(tmp_path / "b.npy", G, b, update_b, spec=RANDOM)
    out = tmp_path / "m" / "ab.npy"
    result = run("morph", tmp_path / "a.npy", tmp_path / "b.npy", "--frames", 5, "--save-latents", "--out", out)
    assert result.exit_code == 0, result.output
    mid_update_path = tmp_path / "m" / "ab_tuned.safetensors"
    assert output_paths(result)[0] == str(mid_update_path)

    frames = frames_of(animation_frames, "ab.gif")
    ws = np.load(tmp_path / "m" / "ab_frames.npy")
    t = np.linspace(0, 1, 5)
    noise_b = default_noise(G)  # B has no noise maps: the generator's stored ones stand in
    for i in range(5):
        noise = [(1 - t[i]) * na + t[i] * nb for na, nb in zip(noise_a, noise_b)]
        blend = blend_updates([(u, wt) for u, wt in ((update_a, 1 - t[i]), (update_b, t[i])) if wt])
        if i in (0, 4):  # the ends: exactly each latent's own tuned rendering
            own = (update_a, a, noise_a) if i == 0 else (update_b, b, None)
            np.testing.assert_array_equal(frames[i], tuned_render(G, own[0], own[1][None], own[2])[0])
        np.testing.assert_array_equal(frames[i], tuned_render(G, blend, ws[i:i + 1], noise)[0])
        close_in_uint8(frames[i], G, [(update_a, 1 - t[i]), (update_b, t[i])], ws[i:i + 1], noise)
    far_from(frames[0], render(G, a[None], noise=noise_a)[0])

    # the midpoint: rendered through (ΔA + ΔB) / 2, saved as a plain rank-5 update its record names
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["tuned"] == "ab_tuned.safetensors"
    mid_update = load_update(mid_update_path, G)
    assert mid_update.rank == 5 and not mid_update.blended
    assert [part["weight"] for part in mid_update.settings["blended_from"]] == [0.5, 0.5]
    assert mid_update.settings["blended_from"][0]["file"] == os.path.abspath(tmp_path / "a_tuned.safetensors")
    mid = np.load(out)
    with np.load(tmp_path / "m" / "ab_noise.npz") as saved:
        mid_noise = [saved[f"noise_{i}"] for i in range(len(saved.files))]
    image = png(out.with_suffix(".png"))
    np.testing.assert_array_equal(image, tuned_render(G, mid_update, mid[None], mid_noise)[0])
    close_in_uint8(image, G, [(update_a, 0.5), (update_b, 0.5)], mid[None], mid_noise)
    assert png_text(out.with_suffix(".png"))["tuned_update"] == os.path.abspath(mid_update_path)
    # each frame has its own update: the frames' record names none
    assert json.loads((tmp_path / "m" / "ab_frames.json").read_text())["tuned"] is None

    # `render` finds the midpoint's update through its record and draws the same image
    again = run("render", out)
    assert again.exit_code == 0, again.output
    np.testing.assert_array_equal(png(tmp_path / "m" / "ab_render.png"), image)

    plain = run("morph", tmp_path / "a.npy", tmp_path / "b.npy", "--frames", 5, "--no-tuned", "--out",
                tmp_path / "p.npy")
    assert plain.exit_code == 0, plain.output
    assert not (tmp_path / "p_tuned.safetensors").exists()
    np.testing.assert_array_equal(frames_of(animation_frames, "p.gif")[-1], render(G, b[None])[0])
    np.testing.assert_array_equal(png(tmp_path / "p.png"), render(G, mid[None], noise=mid_noise)[0])
    assert json.loads((tmp_path / "p.json").read_text())["tuned"] is None


@pytest.mark.numerics
def test_morph_to_an_untuned_latent_fades_the_update_out(tmp_path, animation_frames):
    G = load(RANDOM)
    a, b = sample_ws(G, 2, seed=44)
    update = random_update(G, 4, seed=45, size=SIZE)
    save_tuned_latent(tmp_path / "a.npy", G, a, update, spec=RANDOM)
    np.save(tmp_path / "b.npy", b)
    result = run("morph", tmp_path / "a.npy", tmp_path / "b.npy", "-g", RANDOM, "--frames", 3)
    assert result.exit_code == 0, result.output
    frames = frames_of(animation_frames, "a_b_morph.gif")
    np.testing.assert_array_equal(frames[0], tuned_render(G, update, a[None])[0])
    np.testing.assert_array_equal(frames[2], render(G, b[None])[0])  # an untuned end counts as a zero update
    mid = np.load(tmp_path / "a_b_morph.npy")
    half = load_update(tmp_path / "a_b_morph_tuned.safetensors", G)
    assert half.rank == 4
    close_in_uint8(frames[1], G, [(update, 0.5)], mid[None])
    np.testing.assert_array_equal(png(tmp_path / "a_b_morph.png"), tuned_render(G, half, mid[None])[0])


def test_morph_between_latents_sharing_an_update_uses_it_unchanged(tmp_path, animation_frames):
    """A photo and its edit name the same file: every frame renders through it, and no new file is made."""
    G = load(RANDOM)
    a, b = sample_ws(G, 2, seed=46)
    update = random_update(G, 4, seed=47, size=SIZE)
    save_tuned_latent(tmp_path / "a.npy", G, a, update, spec=RANDOM)
    (tmp_path / "edits").mkdir()
    np.save(tmp_path / "edits" / "b.npy", b)
    record = json.loads((tmp_path / "a.json").read_text())
    (tmp_path / "edits" / "b.json").write_text(json.dumps(dict(record, latent="b.npy",
                                                                tuned="../a_tuned.safetensors")))
    result = run("morph", tmp_path / "a.npy", tmp_path / "edits" / "b.npy", "--frames", 4, "--save-latents")
    assert result.exit_code == 0, result.output
    assert not list(tmp_path.glob("*morph_tuned*"))
    ws = np.load(tmp_path / "a_b_morph_frames.npy")
    np.testing.assert_array_equal(frames_of(animation_frames, "a_b_morph.gif"), tuned_render(G, update, ws))
    for name in ("a_b_morph.json", "a_b_morph_frames.json"):
        assert json.loads((tmp_path / name).read_text())["tuned"] == "a_tuned.safetensors"


# ---------------------------------------------------------------------------------------------------
# wrong update files: one line naming the record and the file, nothing written


def _break(problem, update_path, G):
    if problem == "missing":
        update_path.unlink()
    elif problem == "corrupt":
        update_path.write_bytes(update_path.read_bytes()[:-100])
    else:
        other = load("random:32:1")
        save_update(update_path, random_update(other, 4, seed=48))


def _check_message(line, problem, update_path, record, G):
    hint = "; pass --no-tuned to render without it"
    if problem == "missing":
        assert line == (f"Error: the tuned update {update_path} named by latent record {record} does not exist; put "
                        f"it back, or set tuned to null in the record{hint}")
        return
    prefix = f"Error: cannot use the tuned update {update_path} named by latent record {record}: {update_path.name}"
    if problem == "corrupt":
        assert line.startswith(prefix + " is truncated: ") and line.endswith(hint), line
    else:
        other = load("random:32:1").source["fingerprint"][:12]
        assert line == (f"{prefix} was tuned for random:32:1 (random, fingerprint {other}), not for the loaded "
                        f"generator random:32 (random, fingerprint {G.source['fingerprint'][:12]}); load the network "
                        f"it was made for{hint}")


COMMANDS = {
    "edit": lambda p: ["edit", p["a"], "-b", p["smile"]],
    "morph": lambda p: ["morph", p["b"], p["a"], "--frames", 2],
    "crossover": lambda p: ["crossover", p["a"], p["b"]],
    "expression": lambda p: ["expression", p["a"], p["b"], p["b"]],
    "render": lambda p: ["render", p["b"], p["a"]],
}


@pytest.mark.parametrize("problem", ["missing", "corrupt", "network"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_bad_update_is_one_line_naming_the_record_and_the_file(tmp_path, command, problem):
    G = load(RANDOM)
    a, b = sample_ws(G, 2, seed=49)
    update_path = save_tuned_latent(tmp_path / "a.npy", G, a, random_update(G, 4, seed=50), spec=RANDOM)
    np.save(tmp_path / "b.npy", b)
    np.save(tmp_path / "smile.npy", np.eye(1, G.w_dim, dtype=np.float32))
    _break(problem, update_path, G)
    before = sorted(p.name for p in tmp_path.iterdir())
    args = COMMANDS[command]({"a": tmp_path / "a.npy", "b": tmp_path / "b.npy", "smile": tmp_path / "smile.npy"})
    _check_message(error_line(run(*args)), problem, update_path, tmp_path / "a.json", G)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    assert run(*args, "--no-tuned").exit_code == 0


def test_an_update_used_with_another_network_is_refused_naming_both(tmp_path):
    """-g names another network of the same shape: the latent may be rendered by it (with a warning), its update
    may not."""
    G, other = load(RANDOM), load("random:32:1")
    update_path = save_tuned_latent(tmp_path / "a.npy", G, sample_ws(G, 1, seed=51)[0], random_update(G, 4),
                                    spec=RANDOM)
    line = error_line(run("render", tmp_path / "a.npy", "-g", "random:32:1"))
    assert line == (f"Error: cannot use the tuned update {update_path} named by latent record {tmp_path / 'a.json'}: "
                    f"a_tuned.safetensors was tuned for random:32 (random, fingerprint "
                    f"{G.source['fingerprint'][:12]}), not for the loaded generator random:32:1 (random, fingerprint "
                    f"{other.source['fingerprint'][:12]}); load the network it was made for; pass --no-tuned to "
                    f"render without it")
    assert not (tmp_path / "a_render.png").exists()


def test_a_record_whose_tuned_field_is_not_a_file_name(tmp_path):
    G = load(RANDOM)
    save_tuned_latent(tmp_path / "a.npy", G, sample_ws(G, 1, seed=52)[0], random_update(G, 4), spec=RANDOM)
    record = json.loads((tmp_path / "a.json").read_text())
    (tmp_path / "a.json").write_text(json.dumps(dict(record, tuned={"file": "a_tuned.safetensors"})))
    assert error_line(run("render", tmp_path / "a.npy")) == (
        f"Error: latent record {tmp_path / 'a.json'} has tuned: {{'file': 'a_tuned.safetensors'}}, which is not a "
        f"file name; write there the tuned update's path relative to the record's folder, or null; pass --no-tuned "
        f"to render without it")


def test_an_output_never_replaces_an_input_update(tmp_path):
    """A record may name any file: an output of that name is refused, like any input."""
    G = load(RANDOM)
    a, b = sample_ws(G, 2, seed=53)
    update_path = save_tuned_latent(tmp_path / "a.npy", G, a, random_update(G, 4), spec=RANDOM)
    np.save(tmp_path / "b.npy", b)
    record = json.loads((tmp_path / "a.json").read_text())
    os.replace(update_path, tmp_path / "m_tuned.safetensors")
    (tmp_path / "a.json").write_text(json.dumps(dict(record, tuned="m_tuned.safetensors")))
    before = (tmp_path / "m_tuned.safetensors").read_bytes()
    line = error_line(run("morph", tmp_path / "a.npy", tmp_path / "b.npy", "--out", tmp_path / "m.npy", "--force"))
    assert line.startswith(f"Error: the output {tmp_path / 'm_tuned.safetensors'} would replace the input")
    assert (tmp_path / "m_tuned.safetensors").read_bytes() == before


# ---------------------------------------------------------------------------------------------------
# info on a tuned file


def test_info_describes_a_tuned_file(tmp_path):
    from invert.tuning import tune

    G = load(RANDOM)
    w = sample_ws(G, 1, seed=54)[0]
    target = np.random.default_rng(0).integers(0, 256, (G.resolution, G.resolution, 3), dtype=np.uint8)
    tuning = tune(G, w, target, steps=3, rank=4, perceptual=None)
    path = save_update(tmp_path / "face_tuned.safetensors", tuning.update)
    result = run("info", path)
    assert result.exit_code == 0, result.output
    lines = {line[:22].rstrip(): line[23:] for line in result.stdout.splitlines()}  # "KEY (22 wide) VALUE"
    assert lines["kind"] == "tuned update (pivotal tuning)" and lines["rank"] == "4"
    # random:32: 11 modulated convolutions (b4: conv1 + torgb; b8..b32: conv0, conv1, torgb), 4 of them ToRGB;
    # at rank 4 the 7 synthesis convolutions are factored, the ToRGB weights (3 outputs) kept in full
    assert lines["tunes"] == ("11 modulated convolutions (7 synthesis layers, 4 ToRGB): weights and biases; 7 conv "
                              "weights as rank-4 factors, 4 in full")
    assert lines["bytes"] == str(path.stat().st_size) and lines["values"] == str(tuning.update.num_values)
    assert lines["base network"] == f"random:32 (random, fingerprint {G.source['fingerprint'][:12]})"
    assert lines["base fingerprint"] == G.source["fingerprint"]
    assert "steps:3" in lines["settings"] and "lr:0.0003" in lines["settings"] and "rank:4" in lines["settings"]
    as_json = run("info", path, "--json")
    assert json.loads(as_json.stdout) == json.loads(json.dumps(describe_update(path)))
    assert json.loads(as_json.stdout)["settings"]["steps_done"] == 3

    (tmp_path / "other.safetensors").write_bytes(b"\x80\x04 a pickle")
    assert error_line(run("info", tmp_path / "other.safetensors")) == (
        "Error: other.safetensors is a pickle, not a safetensors file; refused without reading it (a pickle can "
        "run code)")
