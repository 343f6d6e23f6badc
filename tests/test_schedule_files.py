"""The shipped scheduling recipes point at the nightly entry point with a per-date identity."""

import re
import shlex
from pathlib import Path

SCHEDULE = Path(__file__).resolve().parent.parent / "workflows" / "schedule"


def test_crontab_line():
    lines = [ln for ln in (SCHEDULE / "crontab.txt").read_text().splitlines() if ln and not ln.startswith("#")]
    job = next(ln for ln in lines if "nightly.py" in ln)
    assert len(job.split()[:5]) == 5 and re.match(r"^[\d*,/-]+( [\d*,/-]+){4} ", job)
    assert "--date" in job and r"\%F" in job  # cron needs % escaped


def test_systemd_timer_and_service():
    timer = (SCHEDULE / "mlab-nightly.timer").read_text()
    service = (SCHEDULE / "mlab-nightly.service").read_text()
    assert "OnCalendar=" in timer and "Persistent=true" in timer and "WantedBy=timers.target" in timer
    assert "Type=oneshot" in service and "workflows/nightly.py" in service and "%%F" in service


def test_ray_job_submit_has_a_per_date_submission_id():
    script = (SCHEDULE / "ray-job-submit.sh").read_text()
    assert "ray job submit" in script and '--submission-id "mlab-nightly-${DATE}"' in script
    assert "workflows/nightly.py" in script and "--date" in script
    shlex.split(script.split("ray job submit", 1)[1].replace("\\\n", " ").split("\n")[0])
