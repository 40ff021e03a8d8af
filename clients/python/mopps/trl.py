"""MoPPS prompt selection for Hugging Face TRL's ``GRPOTrainer`` (checked against TRL 1.16).

TRL draws prompts through ``GRPOTrainer._get_train_sampler`` (a ``RepeatSampler``: each prompt
repeated ``num_generations`` times, each generation batch repeated ``num_iterations ×
steps_per_generation`` times) and scores completions in ``GRPOTrainer._calculate_rewards``.
``MoPPSGRPOTrainer`` replaces the first with :class:`MoPPSRepeatSampler` (same layout, prompts chosen
by moppsd) and extends the second to report each completion's reward back::

    from mopps.trl import MoPPSGRPOTrainer
    trainer = MoPPSGRPOTrainer(model=..., reward_funcs=..., args=GRPOConfig(...),
                               train_dataset=dataset,           # needs an "index" column = row number
                               mopps_endpoint=None,             # None: a private moppsd (rank 0 starts it)
                               candidates_ratio=8,
                               mopps_strategy="dps",            # optional: any strategy moppsd serves
                               mopps_strategy_config={"decay": 0.7})   # dps / greso / pools settings

A completion counts as a success when its weighted reward > ``success_threshold`` (default 0).

Several processes (``accelerate launch``): generation batch ``b`` of epoch ``e`` is selected under the
key ``{run}/e{e}/b{b}``, so every rank gets the identical batch (TRL's RepeatSampler contract) and the
pool draws once per generation batch; each rank reports only its own completions, under
``{run}/s{global_step}/rank{rank}`` (with ``step=global_step`` on dps and greso pools, so the ranks'
reports are one training step for their per-step rules). Without ``mopps_endpoint`` the main process starts one moppsd
(state in ``mopps_state_dir``, default ``<output_dir>/mopps-state``) and the other ranks connect to it;
it is stopped when ``train()`` returns. Checkpoints hold ``mopps_state.json`` (the pool's tag on the
server, the run id) and ``mopps_selections.npy`` (the epoch's batches so far); resuming restores both,
so the resumed run selects what the uninterrupted one would have.

Staleness: the trainer fetches batches ahead (transformers a whole optimizer step, accelerate one
more), so with TRL's defaults generation batch ``g`` is selected before the rewards of batch ``g − 1``
are reported: one generation batch old (measured by ``make test-verl`` through
``MoPPSRepeatSampler.reports_before``).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
import warnings
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Sized, Tuple

import numpy as np
import numpy.typing as npt

from . import _plugin
from .client import Client
from .errors import MoppsError

try:
    from trl import GRPOTrainer as _GRPOTrainer
except Exception:  # TRL not installed: the sampler still works
    _GRPOTrainer = object  # type: ignore[misc,assignment,unused-ignore]

_STATE_FILE = "mopps_state.json"
_SELECTIONS_FILE = "mopps_selections.npy"


class MoPPSRepeatSampler:
    """TRL's RepeatSampler layout with moppsd choosing the prompts of each generation batch
    (one keyed Select per generation batch: identical on every rank)."""

    def __init__(
        self,
        data_source: Sized,
        client: Client,
        pool: str,
        mini_repeat_count: int,
        batch_size: int = 1,
        repeat_count: int = 1,
        candidates_ratio: float = 8.0,
        seed: int = 0,
        run: str = "trl",
    ) -> None:
        self.n = len(data_source)
        self.mini_repeat_count, self.batch_size, self.repeat_count = mini_repeat_count, batch_size, repeat_count
        self.chooser = _plugin.PromptChooser(client, pool, self.n, batch_size, candidates_ratio=candidates_ratio,
                                             seed=seed, run=run)
        self._epoch: Optional[int] = None
        self._iterations = 0
        #: Generation batches reported so far (the trainer counts them) and, per selection, how many
        #: had been reported when it was made: selection g saw the rewards of reports_before[g] batches.
        self.reports = 0
        self.reports_before: List[int] = []
        #: The batches of the current epoch selected so far (what a checkpoint records).
        self.selected: List[np.ndarray] = []
        self._replay: Dict[int, List[np.ndarray]] = {}  # epoch -> batches restored from a checkpoint

    def __len__(self) -> int:
        return (self.n // self.batch_size) * self.batch_size * self.mini_repeat_count * self.repeat_count

    def set_epoch(self, epoch: int) -> None:
        """Called by accelerate / transformers before each epoch (also the resumed one)."""
        self._epoch = epoch

    def resume(self, epoch: int, selected: Sequence[npt.NDArray[np.uint64]], run: str) -> None:
        """Makes the iteration of ``epoch`` yield ``selected`` first (without asking moppsd again),
        then continue with the run's keys."""
        self.chooser.run = run
        self._replay = {epoch: list(selected)}

    def __iter__(self) -> Iterator[int]:
        epoch = self._iterations if self._epoch is None else self._epoch
        self._iterations, self._epoch = epoch + 1, None
        self.chooser.start_epoch(epoch)
        replay = self._replay.pop(epoch, [])
        self.selected = []
        for b in range(self.chooser.batches_per_epoch):
            if b < len(replay):
                self.chooser.draw_candidates()  # keep the epoch's RNG where the first run had it
                chosen = replay[b]
            else:
                self.reports_before.append(self.reports)
                chosen = self.chooser.choose(b)
            self.selected.append(np.asarray(chosen, dtype=np.uint64))
            ids = chosen.tolist()
            for _ in range(self.repeat_count):
                for index in ids:
                    for _ in range(self.mini_repeat_count):
                        yield int(index)


class MoPPSGRPOTrainer(_GRPOTrainer):  # type: ignore[misc]
    """``trl.GRPOTrainer`` whose prompts are chosen by MoPPS (see the module docstring).

    >>> trainer = MoPPSGRPOTrainer(model=model, reward_funcs=reward, args=args,   # doctest: +SKIP
    ...                            train_dataset=dataset, candidates_ratio=8)
    >>> trainer.train()                                                            # doctest: +SKIP
    """

    def __init__(
        self,
        *args: Any,
        mopps_client: Optional[Client] = None,
        mopps_endpoint: Optional[str] = None,
        mopps_pool: str = "trl",
        mopps_state_dir: Optional[str] = None,
        candidates_ratio: float = 8.0,
        index_key: str = "index",
        success_threshold: float = 0.0,
        mopps_strategy: Optional[str] = None,
        mopps_strategy_config: Optional[Mapping[str, Any]] = None,
        **kwargs: Any,
    ) -> None:
        # Checked before the (slow) trainer set-up, so a wrong setting fails at once.
        self._mopps_settings = _plugin.pool_settings(mopps_strategy, mopps_strategy_config)
        self._mopps_per_step = mopps_strategy in _plugin.PER_STEP_STRATEGIES
        super().__init__(*args, **kwargs)
        n = len(self.train_dataset)
        _plugin.check_index_column(np.asarray(self.train_dataset[index_key]), f'the dataset\'s "{index_key}" column')
        self._mopps_sidecar = self._mopps_connect(mopps_client, mopps_endpoint, mopps_state_dir)
        self.mopps, self.mopps_pool = self._mopps_sidecar.client, mopps_pool
        self.candidates_ratio, self.index_key, self.success_threshold = candidates_ratio, index_key, success_threshold
        try:
            def setup() -> str:
                _plugin.setup_pool(self.mopps, mopps_pool, n, seed=int(self.args.seed), **self._mopps_settings)
                return uuid.uuid4().hex[:12]

            self._mopps_run: str = self._on_main(setup)
        except BaseException:
            self.close()  # the private moppsd started above must not outlive the failed set-up
            raise
        self._mopps_sampler: Optional[MoPPSRepeatSampler] = None
        #: Milliseconds this trainer spent on MoPPS per generation batch (report, gathering indices,
        #: metrics; the Select itself is in the ``mopps/select_ms`` metric).
        self.mopps_overhead_ms: List[float] = []

    # -- the server ----------------------------------------------------------------------------

    def _on_main(self, work: Callable[[], Any]) -> Any:
        """Runs ``work`` on the main process and returns its result on every rank; when it fails,
        every rank raises (instead of the others waiting forever for the main process)."""
        result: Any = None
        failure: Optional[BaseException] = None
        if self.accelerator.is_main_process:
            try:
                result = work()
            except Exception as e:  # noqa: BLE001 - re-raised below, on every rank
                failure = e
                result = e if isinstance(e, MoppsError) else MoppsError(f"on the main process: {e!r}")
        if self.accelerator.num_processes > 1:
            from accelerate.utils import broadcast_object_list

            result = broadcast_object_list([result])[0]
        if failure is not None:
            raise failure
        if isinstance(result, MoppsError):
            raise result
        return result

    def _mopps_connect(self, client: Optional[Client], endpoint: Optional[str],
                       state_dir: Optional[str]) -> _plugin.Sidecar:
        """``client``, or all ranks on ``endpoint``, or on one private moppsd the main process starts."""
        if client is not None or endpoint is not None:
            return _plugin.Sidecar(client, endpoint=endpoint)
        private: List[_plugin.Sidecar] = []

        def start() -> Tuple[str, str]:
            private.append(_plugin.Sidecar(state_dir=state_dir or os.path.join(self.args.output_dir, "mopps-state")))
            return private[0].client.endpoint, socket.gethostname()

        where = self._on_main(start)
        if private:
            return private[0]
        if where[1] != socket.gethostname():
            raise MoppsError(
                f"the private moppsd runs on {where[1]} and this rank on {socket.gethostname()}: with several "
                "machines, start moppsd yourself (tcp with CURVE) and pass mopps_endpoint")
        return _plugin.Sidecar(endpoint=where[0])

    def close(self) -> None:
        """Stops the private moppsd (and closes the client this trainer made); ``train()`` does it
        when it returns. A client passed as ``mopps_client`` stays open. Idempotent.

        >>> trainer.close()                                                 # doctest: +SKIP
        """
        self._mopps_sidecar.close()

    def train(self, *args: Any, **kwargs: Any) -> Any:
        """``GRPOTrainer.train``; a private moppsd is stopped when it returns (or raises)."""
        resume = kwargs.get("resume_from_checkpoint", args[0] if args else None)
        private = self._mopps_sidecar.private
        if not resume and self.accelerator.is_main_process and private is not None:
            info = next(p for p in self.mopps.list_pools() if p.name == self.mopps_pool)
            if info.select_count or info.update_count:
                warnings.warn(f'starting a new run: pool "{self.mopps_pool}" left in {private.state_dir} '
                              "by an earlier run is dropped", UserWarning, stacklevel=2)
                self.mopps.drop_pool(self.mopps_pool)
                _plugin.setup_pool(self.mopps, self.mopps_pool, len(self.train_dataset), seed=int(self.args.seed),
                                   **self._mopps_settings)
        self.accelerator.wait_for_everyone()
        ok = False
        try:
            output = super().train(*args, **kwargs)
            ok = True
            return output
        finally:
            if ok:  # the others may still report their last step; after an error nobody waits
                self.accelerator.wait_for_everyone()
            self.close()

    # -- selection and feedback ----------------------------------------------------------------

    def _get_train_sampler(self, dataset: Optional[Sized] = None) -> MoPPSRepeatSampler:
        dataset = self.train_dataset if dataset is None else dataset
        self._mopps_sampler = MoPPSRepeatSampler(
            dataset, self.mopps, self.mopps_pool, mini_repeat_count=self.num_generations,
            batch_size=self.args.generation_batch_size // self.num_generations,
            repeat_count=self.num_iterations * self.args.steps_per_generation,
            candidates_ratio=self.candidates_ratio, seed=int(self.args.seed), run=self._mopps_run)
        return self._mopps_sampler

    def _calculate_rewards(self, inputs: List[Dict[str, Any]], prompts: List[Any], completions: List[Any],
                           completion_ids_list: List[Any]) -> Any:
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if not self.model.training:  # evaluation rollouts are not training feedback
            return rewards_per_func
        import torch

        t0 = time.perf_counter()
        # The result is gathered over processes (rank-major); this process's completions are its slice.
        weights = self.reward_weights.to(rewards_per_func.device).unsqueeze(0)
        total = (rewards_per_func * weights).nansum(dim=1)
        total[rewards_per_func.isnan().all(dim=1)] = float("nan")
        total = total.detach().cpu().numpy()
        rank = self.accelerator.process_index
        local = [int(row[self.index_key]) for row in inputs]
        start_row = rank * len(prompts)
        self.mopps.report(self.mopps_pool, np.asarray(local, dtype=np.uint64), total[start_row:start_row + len(prompts)],
                          threshold=self.success_threshold,
                          request_id=f"{self._mopps_run}/s{self.state.global_step}/rank{rank}",
                          step=int(self.state.global_step) if self._mopps_per_step else None)
        # Every rank's prompt indices, in the order of the gathered rewards (a tensor all-gather,
        # cheaper than gathering Python objects).
        everyone = self.accelerator.gather(torch.tensor(local, device=rewards_per_func.device)).cpu().numpy()
        sampler = self._mopps_sampler
        if sampler is not None:
            sampler.reports += 1
            for name, value in sampler.chooser.metrics(everyone, total, self.success_threshold).items():
                self._metrics["train"][name].append(value)
        self.mopps_overhead_ms.append((time.perf_counter() - t0) * 1e3)
        return rewards_per_func

    # -- checkpoints ---------------------------------------------------------------------------

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        super()._save_checkpoint(model, trial)
        sampler = self._mopps_sampler
        if sampler is not None and self.accelerator.is_main_process:
            from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

            folder = os.path.join(self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")
            state = sampler.chooser.state(f"{self._mopps_run}-step-{self.state.global_step}",
                                          {"epoch": sampler.chooser.epoch})
            del state["rng"]  # the epoch's RNG is re-seeded and replayed on resume
            with open(os.path.join(folder, _STATE_FILE), "w", encoding="utf-8") as f:
                json.dump(state, f)
            np.save(os.path.join(folder, _SELECTIONS_FILE), np.stack(sampler.selected) if sampler.selected
                    else np.zeros((0, sampler.batch_size), dtype=np.uint64))
        # No rank selects the next batch before the tag is taken.
        self.accelerator.wait_for_everyone()

    def _load_optimizer_and_scheduler(self, checkpoint: Optional[str]) -> None:
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is None:
            return
        sampler = self._mopps_sampler
        if sampler is None:
            raise MoppsError("resume before the train sampler exists")

        def restore() -> Tuple[Dict[str, Any], npt.NDArray[np.uint64]]:
            path = os.path.join(checkpoint, _STATE_FILE)
            if not os.path.exists(path):
                raise MoppsError(f"{path} is missing: this checkpoint was not saved by MoPPSGRPOTrainer, so the "
                                 "prompt selector cannot be put back to it")
            with open(path, encoding="utf-8") as f:
                state = json.load(f)
            sampler.chooser.restore(state)
            return state, np.load(os.path.join(checkpoint, _SELECTIONS_FILE))

        state, selected = self._on_main(restore)  # every rank continues only after the restore
        self._mopps_run = state["run"]
        sampler.resume(int(state["epoch"]), list(selected), state["run"])
