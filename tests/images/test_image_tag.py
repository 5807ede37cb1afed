"""scripts/image-tag.sh, the tag `make images` gives the images, in scratch git repositories: a
clean checkout is tagged `git describe`, changed content gets a tag naming that content, so a
rebuilt changed tree always rolls out and an unchanged rebuild changes nothing."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from harness.tools import make_dry_run

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "image-tag.sh"
#: What Docker accepts as a tag.
DOCKER_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def tag(repo: Path) -> str:
    out = subprocess.run(
        [str(repo / "scripts" / "image-tag.sh")], capture_output=True, text=True, check=True
    )
    assert DOCKER_TAG.fullmatch(out.stdout.strip()), out.stdout
    return out.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with the script, a .gitignore, one tagged commit."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(SCRIPT, root / "scripts" / "image-tag.sh")
    (root / ".gitignore").write_text(".porto/\n")
    (root / "app.py").write_text("print('v1')\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first")
    git(root, "tag", "v1.0.0")
    return root


def test_a_clean_checkout_is_tagged_git_describe(repo: Path) -> None:
    assert tag(repo) == "v1.0.0"
    (repo / "app.py").write_text("print('v2')\n")
    git(repo, "commit", "-qam", "second")
    assert tag(repo) == git(repo, "describe", "--tags", "--always")
    assert tag(repo).startswith("v1.0.0-1-g")


def test_uncommitted_changes_get_a_tag_naming_their_content(repo: Path) -> None:
    (repo / "app.py").write_text("print('v2')\n")
    first = tag(repo)
    assert re.fullmatch(r"v1\.0\.0-dirty-[0-9a-f]{12}", first), first
    assert tag(repo) == first, "the same content, the same tag"
    (repo / "app.py").write_text("print('v3')\n")
    second = tag(repo)
    assert second != first, "another change, another tag"
    (repo / "app.py").write_text("print('v2')\n")
    assert tag(repo) == first, "back to the same content"
    (repo / "app.py").write_text("print('v1')\n")
    assert tag(repo) == "v1.0.0", "back to the commit: clean"


def test_untracked_files_count_and_ignored_ones_do_not(repo: Path) -> None:
    (repo / "new.py").write_text("x = 1\n")
    with_new = tag(repo)
    assert with_new.startswith("v1.0.0-dirty-")
    (repo / "new.py").write_text("x = 2\n")
    assert tag(repo) != with_new
    (repo / "new.py").unlink()
    (repo / ".porto").mkdir()
    (repo / ".porto" / "state.db").write_text("local state")
    assert tag(repo) == "v1.0.0"


def test_the_index_is_left_alone(repo: Path) -> None:
    """Staged or not, the same content gives the same tag, and nothing gets staged."""
    (repo / "app.py").write_text("print('v2')\n")
    (repo / "new.py").write_text("x = 1\n")
    unstaged = tag(repo)
    assert git(repo, "diff", "--cached", "--name-only") == ""
    assert "?? new.py" in git(repo, "status", "--porcelain")
    git(repo, "add", "app.py")
    assert tag(repo) == unstaged
    assert git(repo, "diff", "--cached", "--name-only") == "app.py"


def test_a_slash_in_a_git_tag_becomes_a_dash(repo: Path) -> None:
    git(repo, "tag", "-d", "v1.0.0")
    git(repo, "tag", "release/2.0")
    assert tag(repo) == "release-2.0"


def test_without_git_history_the_tag_is_dev(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    shutil.copy2(SCRIPT, tmp_path / "scripts" / "image-tag.sh")
    assert tag(tmp_path) == "dev"


def test_the_makefile_tags_the_images_with_it() -> None:
    text = make_dry_run("images", "load")
    expected = subprocess.run([str(SCRIPT)], capture_output=True, text=True, check=True)
    tags = set(re.findall(r"porto-(?:inference|ui|training):(\S+)", text))
    assert tags == {expected.stdout.strip()}
