"""``labelnoise datasets``: what is available under the data root."""

from __future__ import annotations

from pathlib import Path

import click

from labelnoise.cli._errors import Command, progress_option


def scan_data_root(root: Path) -> list[dict]:
    """One row per known dataset: name, status (available / incomplete / missing), path,
    loader and a note. Nothing is read beyond file names."""
    from labelnoise._io import TABLE_SUFFIXES
    from labelnoise.datasets import cifar, cifar_n

    rows = []

    def folder_row(name, folder, files, loader, note):
        path = root / folder
        present = [f for f in files if (path / f).is_file()]
        status = ("available" if len(present) == len(files)
                  else "incomplete" if path.exists() else "missing")
        rows.append({"name": name, "status": status, "path": str(path), "loader": loader,
                     "note": note if status != "incomplete"
                     else f"missing {sorted(set(files) - set(present))}"})

    folder_row("cifar10", cifar.CIFAR10_FOLDER,
               list(cifar.CIFAR10_FILES["train"] + cifar.CIFAR10_FILES["test"]),
               "load_cifar10", "50,000 train / 10,000 test")
    folder_row("cifar100", cifar.CIFAR100_FOLDER, ["train", "test"], "load_cifar100",
               "50,000 train / 10,000 test")
    n_dir = root / cifar_n.CIFAR_N_FOLDER
    for name, files, loader, note in (
        ("cifar10n", [cifar_n.CIFAR10N_FILE.filename, cifar_n.CIFAR10N_SIDE_INFO_FILE.filename],
         "load_cifar10n", "label sets aggre, random1-3, worse (needs cifar10 for images)"),
        ("cifar100n", [cifar_n.CIFAR100N_FILE.filename], "load_cifar100n",
         "label set noisy (needs cifar100 for images)"),
    ):
        present = [f for f in files if (n_dir / f).is_file()]
        status = "available" if len(present) == len(files) else (
            "incomplete" if present else "missing")
        rows.append({"name": name, "status": status, "path": str(n_dir), "loader": loader,
                     "note": note if status != "incomplete"
                     else f"missing {sorted(set(files) - set(present))}"})
    known = {cifar.CIFAR10_FOLDER, cifar.CIFAR100_FOLDER, cifar_n.CIFAR_N_FOLDER}
    if root.is_dir():
        for p in sorted(root.iterdir()):
            if p.name in known or p.name.startswith("."):
                continue
            if p.suffix == ".npz":
                rows.append({"name": p.name, "status": "available", "path": str(p),
                             "loader": "load_embeddings", "note": ""})
            elif p.suffix.lower() in TABLE_SUFFIXES:
                rows.append({"name": p.name, "status": "available", "path": str(p),
                             "loader": "load_table", "note": "needs label_column"})
            elif p.is_dir():
                classes = _image_class_folders(p)
                rows.append({"name": p.name, "path": str(p),
                             **({"status": "available", "loader": "load_image_folder",
                                 "note": f"{len(classes)} class folders of images"}
                                if classes else
                                {"status": "other", "loader": "",
                                 "note": "directory (not <class>/<image> folders)"})})
    return rows


@click.command("datasets", cls=Command)
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Data root (default: $LABELNOISE_DATA or ~/.cache/labelnoise).")
@progress_option
def datasets(data_root, progress):
    """List the datasets available under the data root (and how to load them)."""
    del progress  # listing shows no progress bar (the option is accepted by every command)
    from rich.console import Console
    from rich.table import Table

    from labelnoise.datasets import get_data_root

    root = get_data_root(data_root)
    table = Table(title=f"data root: {root}" + ("" if root.is_dir() else " (does not exist)"))
    for col in ("dataset", "status", "loader", "path", "note"):
        table.add_column(col)
    colors = {"available": "green", "incomplete": "yellow", "missing": "red"}
    for row in scan_data_root(root):
        c = colors.get(row["status"], "white")
        table.add_row(row["name"], f"[{c}]{row['status']}[/{c}]", row["loader"], row["path"],
                      row["note"])
    Console(width=160).print(table)
    click.echo("missing CIFAR data is downloaded on first use (loaders take download=True)")


def _image_class_folders(folder: Path) -> list[str]:
    """The class folders of ``folder`` when :func:`labelnoise.datasets.load_image_folder`
    would read it (its class subfolders, :func:`~labelnoise.datasets.folders.class_folders`,
    with an image file somewhere below them), else []; the search stops at the first image."""
    from labelnoise.datasets.folders import IMAGE_SUFFIXES, class_folders

    classes = class_folders(folder)
    has_image = any(f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()
                    for c in classes for f in (folder / c).rglob("*"))
    return classes if has_image else []
