"""tools/cpu-seconds: make test's per-part CPU figure counts what a part started, daemons too."""

import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "cpu-seconds"
BURN = "import time; t = time.process_time(); exec('while time.process_time() - t < 1.5: pass')"


def run(tmp_path: Path, script: str) -> tuple[int, float, float]:
    report = tmp_path / "part.cpu"
    status = subprocess.run([sys.executable, str(TOOL), str(report), "bash", "-c", script],
                            check=False, timeout=120).returncode
    cpu, wall = report.read_text().split()
    return status, float(cpu), float(wall)


def test_a_daemon_that_detached_is_counted_and_the_status_is_the_commands(tmp_path):
    # setsid + a subshell: the burner is reparented (to the tool), as pg_ctl's postmaster is.
    # The command ends once the burner has ended (however slow a loaded machine makes it),
    # without being its parent: the tool reaps it, so kill -0 then fails.
    pid_file = tmp_path / "burner.pid"
    burn = f"import os; open('{pid_file}', 'w').write(str(os.getpid())); {BURN}"
    status, cpu, _ = run(tmp_path, f'(setsid {sys.executable} -c "{burn}" &); '
                                   f'until [ -s {pid_file} ]; do sleep 0.1; done; '
                                   f'while kill -0 "$(cat {pid_file})" 2>/dev/null; do sleep 0.1; '
                                   f'done; exit 3')
    assert status == 3
    assert cpu >= 1


def test_a_process_still_running_at_the_end_is_not_waited_for(tmp_path):
    status, cpu, wall = run(tmp_path, f'({sys.executable} -c "import time; time.sleep(20)" &)')
    assert status == 0
    assert wall < 10
    assert cpu < 1
