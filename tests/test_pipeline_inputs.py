"""invert.pipeline.inputs: files, folders, globs and list files -> InputFile, lazily, in a fixed order."""
import json

import pytest

from invert.errors import ImageError
from invert.pipeline.inputs import InputFile, enumerate_inputs, read_list


def touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def tree(tmp_path):
    """photos/ with images at three depths, a hidden file and folder, a non-image, and earlier outputs."""
    root = tmp_path / "photos"
    for name in ("b.jpg", "a.png", "sub/c.jpeg", "sub/deeper/d.PNG", "other/e.webp", ".hidden/f.png", ".g.png",
                 "notes.txt", "x_aligned.png", "x_metrics.json", "y_proj.png"):
        touch(root / name)
    return root


def found(*specs, **options):
    return [(str(item.path), item.subfolder) for item in enumerate_inputs(specs, **options)]


def test_a_folder_gives_its_images_in_name_order_without_hidden_files_and_earlier_outputs(tree):
    # x_aligned.png lies beside x_metrics.json: a projection wrote it; y_proj.png has no metrics: a photo
    assert found(tree) == [(str(tree / n), "") for n in ("a.png", "b.jpg", "y_proj.png")]


def test_recursive_keeps_each_sub_folder_for_the_outputs(tree):
    assert found(tree, recursive=True) == [
        (str(tree / "a.png"), ""), (str(tree / "b.jpg"), ""), (str(tree / "y_proj.png"), ""),
        (str(tree / "other/e.webp"), "other"), (str(tree / "sub/c.jpeg"), "sub"),
        (str(tree / "sub/deeper/d.PNG"), "sub/deeper")]


def test_globs_keep_the_folders_below_their_fixed_part(tree):
    assert found(f"{tree}/*/*.jp*g") == [(str(tree / "sub/c.jpeg"), "sub")]
    touch(tree / "sub/deeper/g.png")
    # '**' reaches sub-folders only when recursive; glob is case-sensitive here (d.PNG) and skips hidden names
    assert found(f"{tree}/**/*.png", recursive=True) == [
        (str(tree / "a.png"), ""), (str(tree / "sub/deeper/g.png"), "sub/deeper"), (str(tree / "y_proj.png"), "")]
    touch(tree / "sub/h.png")
    assert found(f"{tree}/**/*.png") == [(str(tree / "sub/h.png"), "sub")]  # without: one folder level


def test_the_same_file_twice_is_used_once_and_files_named_explicitly_always(tree):
    explicit = tree / "x_aligned.png"  # an earlier output, but named: used
    assert found(explicit, tree / "a.png", tree) == [
        (str(explicit), ""), (str(tree / "a.png"), ""), (str(tree / "b.jpg"), ""), (str(tree / "y_proj.png"), "")]


def test_enumeration_is_lazy(tree):
    """Nothing after the first spec is looked at until the first input has been taken."""
    stream = enumerate_inputs([tree / "a.png", tree / "missing.png"])
    assert next(stream) == InputFile(tree / "a.png")
    with pytest.raises(ImageError, match="image not found"):
        next(stream)


@pytest.mark.parametrize("spec, message", [("missing.png", "image not found: "), ("empty", "no images to project in"),
                                           ("*.nothing", "no images match")])
def test_a_spec_that_names_nothing_is_an_error(tmp_path, monkeypatch, spec, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match=message):
        list(enumerate_inputs([spec]))


def test_a_text_list_with_spaces_unicode_comments_and_paths_relative_to_its_folder(tmp_path, monkeypatch):
    data = tmp_path / "data"
    names = ["my photo 1.png", "Zoë – été/face (2).jpg", "日本/写真.png"]
    for name in names:
        touch(data / name)
    absolute = touch(tmp_path / "elsewhere" / "abs photo.png")
    listing = data / "todo list.txt"
    listing.write_text("\ufeff# photos to project\n\n" + "\n".join(f"  {n}  " for n in names) + f"\n{absolute}\r\n",
                       encoding="utf-8")
    monkeypatch.chdir(tmp_path / "elsewhere")  # the current folder does not matter
    assert found(list_file=listing) == [(str(data / names[0]), ""), (str(data / names[1]), "Zoë – été"),
                                         (str(data / names[2]), "日本"), (str(absolute), "")]


def test_a_csv_list_uses_its_path_column_and_csv_quoting(tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text('id,path,label\n1,"a, b.png",x\n2,"quote ""q"".png",y\n,,\n3,日本.png,z\n', encoding="utf-8")
    assert list(read_list(listing)) == ["a, b.png", 'quote "q".png', "日本.png"]
    headerless = tmp_path / "plain.csv"
    headerless.write_text("first.png,1\nsecond.png,2\n", encoding="utf-8")
    assert list(read_list(headerless)) == ["first.png", "second.png"]


def test_listed_files_are_not_checked_when_listed(tmp_path):
    """A missing listed file is a bad input of the run (skipped when read), not a mistake in the command."""
    listing = tmp_path / "list.txt"
    listing.write_text("gone.png\n", encoding="utf-8")
    assert found(list_file=listing) == [(str(tmp_path / "gone.png"), "")]


@pytest.mark.parametrize("content, message", [(b"", "names no images"), (b"# only a comment\n", "names no images"),
                                              (b"\xff\xfe bad", "is not UTF-8 text")])
def test_bad_list_files(tmp_path, content, message):
    listing = tmp_path / "list.txt"
    listing.write_bytes(content)
    with pytest.raises(ImageError, match=message):
        list(read_list(listing))
    with pytest.raises(ImageError, match="list file not found"):
        list(read_list(tmp_path / "nope.txt"))
    with pytest.raises(ImageError, match="got a directory"):
        list(read_list(tmp_path))


def test_earlier_outputs_are_recognised_by_their_metrics_file(tmp_path):
    touch(tmp_path / "p.png")
    for name in ("p_aligned.png", "p_proj.png", "p_compare.png"):
        touch(tmp_path / name)
    assert found(tmp_path) == [(str(tmp_path / n), "") for n in ("p.png", "p_aligned.png", "p_compare.png",
                                                                  "p_proj.png")]
    (tmp_path / "p_metrics.json").write_text(json.dumps({}))
    assert found(tmp_path) == [(str(tmp_path / "p.png"), "")]


def test_the_sweep_removes_only_its_own_inputs_temporary_files(tmp_path):
    """Temporary files a killed write left: x.jpg's are removed; those of x_face1.jpg (another input, perhaps
    another rank's, being written right now) only belong to x.jpg when every face of x.jpg is projected."""
    from invert.pipeline.outputs import sweep_temporary

    own, metrics = ".x.npy.0123abcd.tmp", ".x_metrics.json.2468ace0.tmp"
    faces_of_x, other = ".x_face1_proj.png.89abcdef.tmp", ".y.npy.01234567.tmp"
    for name in (own, metrics, faces_of_x, other):
        (tmp_path / name).write_bytes(b"partial")
    assert sweep_temporary([tmp_path], {(str(tmp_path), "x")}) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([faces_of_x, other])
    assert sweep_temporary([tmp_path], {(str(tmp_path), "x")}, all_faces=True) == 1
    assert [p.name for p in tmp_path.iterdir()] == [other]
