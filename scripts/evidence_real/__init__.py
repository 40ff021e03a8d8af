"""Evidence through a real trainer (issue 19): GRPO in TRL's ``GRPOTrainer`` on a small model that
learns arithmetic — uniform sampling vs dynamic sampling vs MoPPS through ``mopps.trl`` — to a fixed
budget of rollouts, reported in docs/evidence-real.md.

It lives under scripts/ rather than in the ``mopps`` package: it needs torch, transformers, trl and
datasets (the test-verl venv), which the client does not depend on and the wheel does not ship, and
it is a measurement, not API. ``make evidence-real`` runs it; ``make test-verl`` runs ``--quick``.

    PYTHONPATH=scripts:clients/python .venv-verl/bin/python -m evidence_real --quick --out /tmp/q
"""
