"""A small real run for the report tests: wire files written here, run through
``wire-ingest run`` on the batch runner, so the report reads the Avro files and
the summary the pipeline itself wrote.

Inputs: the seed story twice (one cluster of two), a short French and a short
German story (written for these tests), an empty file and a file of binary
junk (two dead-letter reasons).
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import SEED

FRENCH = ("Le conseil municipal adopte le budget\n\n"
          "LYON, 3 mars (AFP) - Le conseil municipal de Lyon a adopté lundi soir le budget de la "
          "ville pour l'année prochaine, après un débat de plusieurs heures sur les transports "
          "publics, les écoles et l'entretien des parcs. L'opposition a voté contre le texte, "
          "qu'elle juge trop prudent. Le maire a rappelé que les dépenses de fonctionnement "
          "resteront stables et que les investissements seront consacrés aux écoles.\n")
GERMAN = ("Stadtrat beschließt neuen Haushalt\n\n"
          "HAMBURG, 3. März (dpa) - Der Hamburger Stadtrat hat am Montagabend den Haushalt für "
          "das kommende Jahr beschlossen. Nach einer langen Debatte über den Nahverkehr, die "
          "Schulen und die Pflege der Parks stimmte eine Mehrheit der Abgeordneten für den "
          "Entwurf. Die Opposition kritisierte, der Plan sei zu vorsichtig, und kündigte eigene "
          "Vorschläge für die Schulen an.\n")


def write_inputs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    seed = SEED.read_bytes()
    (folder / "a-seed.txt").write_bytes(seed)
    (folder / "b-seed-copy.txt").write_bytes(seed)
    (folder / "c-french.txt").write_text(FRENCH, encoding="utf-8")
    (folder / "d-german.txt").write_text(GERMAN, encoding="utf-8")
    (folder / "e-empty.txt").write_bytes(b"")
    (folder / "f-junk.txt").write_bytes(bytes(range(256)) * 4)
    return folder


def run_fixture(tmp: Path) -> Path:
    """Run the pipeline over the inputs above; returns its output folder
    (with the run's summary at OUT/summary.json)."""
    from pipelines import cli

    inputs = write_inputs(tmp / "in")
    out = tmp / "out"
    code = cli.main(["run", "--input", str(inputs), "--output", str(out),
                     "--summary-json", str(out / "summary.json")])
    assert code == 0
    return out
