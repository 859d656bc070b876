"""`make seed`: make the configured database ready for the demo, idempotently.

Migrates; seeds the demo bank only if there are no customers; imports the demo knowledge base only
if there are no knowledge points (staff edits are never overwritten); loads the campaign YAML files
(an upsert by campaign code). Running it twice changes nothing the second time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from core.db import make_engine, make_sessionmaker
from core.settings import PROJECT_ROOT, Settings
from crm.migrate import upgrade
from crm.models import Customer
from crm.models.knowledge import KnowledgePoint

BANKCARE = str(Path(sys.executable).parent / "bankcare")


def main() -> int:
    settings = Settings.from_env()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    factory = make_sessionmaker(engine)
    with factory() as s:
        customers = s.scalar(select(func.count()).select_from(Customer)) or 0
        points = s.scalar(select(func.count()).select_from(KnowledgePoint)) or 0
    engine.dispose()
    steps: list[list[str]] = []
    if customers == 0:
        steps.append([BANKCARE, "demo", "seed"])
    if points == 0:
        steps.append([BANKCARE, "faq", "import", str(PROJECT_ROOT / "nlu_data" / "faq" / "knowledge_base.tsv")])
    steps.append([BANKCARE, "care", "load"])
    for cmd in steps:
        if subprocess.run(cmd, check=False).returncode != 0:
            print(f"失败 (failed): {' '.join(cmd[1:])}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
