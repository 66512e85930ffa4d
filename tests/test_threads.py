"""Decode threads: the physical cores, fewer while another process keeps a core busy."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from openk2.threads import ThreadGovernor, physical_cores


def test_physical_cores_are_at_most_the_logical_ones():
    assert 1 <= physical_cores() <= (os.cpu_count() or 1)


@pytest.mark.skipif(not os.path.exists("/proc/stat") or physical_cores() < 2, reason="needs Linux and 2+ cores")
def test_a_busy_neighbour_takes_a_thread_away():
    before = torch.get_num_threads()
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        governor = ThreadGovernor(interval=0.5)
        assert governor.threads == physical_cores()
        time.sleep(1.0)  # the neighbour spins meanwhile (whatever else loads the machine only adds to it)
        assert governor.update() <= physical_cores() - 1
        assert torch.get_num_threads() == governor.threads
    finally:
        burner.kill()
        burner.wait()
        torch.set_num_threads(before)
