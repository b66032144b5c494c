"""The ``ibm.runtime`` and ``ibm.fake`` backends: Qiskit Runtime's SamplerV2 on IBM devices.

Importing this module imports no Qiskit (the registry loads it to list backends); the SDK is
imported when a backend is created.

Both backends share one run path (:class:`SamplerBackend`); they differ only in where the device
comes from (a fake device of ``qiskit_ibm_runtime.fake_provider``, run in the Runtime's local
testing mode with its calibrated noise, or a real device from ``QiskitRuntimeService``). So the
fake backend is the offline test double of the real one.

How a run goes:

- compile (``_translate``): the qbridge circuit becomes a Qiskit circuit that measures qubit q into
  classical bit q, and is transpiled to the device's ISA (layout, routing, basis gates) with
  ``generate_preset_pass_manager``, once per circuit (cached). qbridge's own decomposition and
  connectivity check are skipped: Qiskit's transpiler accepts every qbridge gate and routes.
- execute: one SamplerV2 PUB per task with the whole batch of bindings as an array of shape
  (B, P), its columns in the ISA circuit's parameter order (Qiskit sorts parameters by name, so
  columns are matched by name); all PUBs in one Sampler job.
- counts: the classical bits hold the logical qubits whatever the layout, so a count key read
  right to left is qbridge's bitstring (qubit 0 first).

Run-time amplitude encoding is transpiled once as a Möttönen cascade whose rotation angles are
parameters; each input row's angles are bound like any other parameter (inputs with only
non-negative real entries skip the phase half, which saves CNOTs on hardware).
"""

from __future__ import annotations

import importlib.util
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from qbridge.backends.base import Backend, CompiledTask, RunConfig, Target, TaskResult
from qbridge.exceptions import BackendUnavailableError, JobError, ValidationError
from qbridge.ir.circuit import Circuit
from qbridge.ir.gates import GATES

__all__ = ["SamplerBackend", "IBMFakeBackend", "IBMRuntimeBackend"]

DEFAULT_FAKE = "fake_manila"
_CACHE_SIZE = 256
_REGISTER = "meas"


@dataclass(frozen=True, eq=False)
class _Program:
    isa: Any  # the transpiled qiskit QuantumCircuit
    template: Any  # qbridge.interop.qiskit.QiskitTemplate
    parameter_names: tuple[str, ...]  # the ISA circuit's parameters, in its (sorted) order


def _missing(*modules: tuple[str, str]) -> str | None:
    for module, dist in modules:
        if importlib.util.find_spec(module) is None:
            return f"{dist} is not installed; pip install qbridge-ibm (or pip install {dist})"
    return None


class SamplerBackend(Backend):
    """The shared body: a Qiskit ``BackendV2`` device, ISA transpilation, SamplerV2 PUBs.

    Subclasses set ``self.device`` (and may override :meth:`_sampler_options`) before calling
    :meth:`_setup`.
    """

    device: Any = None

    def _setup(self, *, optimization_level: int, seed_transpiler: int | None,
               sampler_options: Mapping[str, Any] | None, simulator: bool) -> None:
        from qbridge.interop import qiskit as qk

        if optimization_level not in (0, 1, 2, 3):
            raise ValueError(f"optimization_level must be 0, 1, 2 or 3, got {optimization_level!r}")
        self._qk = qk
        self._optimization_level = int(optimization_level)
        self._seed_transpiler = seed_transpiler
        self._user_sampler_options = dict(sampler_options or {})
        self._pass_manager = None
        self._cache: OrderedDict[Any, _Program] = OrderedDict()
        self.stats = {"transpiles": 0, "runs": 0, "pubs": 0, "cache_hits": 0}
        dev = self.device
        ops = set(dev.target.operation_names)
        cmap = dev.coupling_map
        pairs = None
        if cmap is not None:
            pairs = frozenset((min(a, b), max(a, b)) for a, b in cmap.get_edges())
        # The device itself: its gates that are qbridge gates ("ecr", "measure", "delay" are not)
        # and its coupled pairs (undirected). The Target below describes what this backend
        # accepts, which is more: Qiskit's transpiler translates every qbridge gate and routes
        # every pair, so no qbridge decomposition or connectivity check is needed before it.
        self.device_gates = frozenset(g for g in ops if g in GATES)
        self.device_connectivity = pairs
        max_shots = None
        try:
            max_shots = getattr(dev.configuration(), "max_shots", None)
        except Exception:  # BackendV2 without a V1-style configuration  # noqa: BLE001
            max_shots = None
        self._target = Target(
            num_qubits=int(dev.num_qubits),
            # accepted as written (Qiskit's transpiler does the rest): every library gate and
            # 'unitary', on any pair of qubits; the device's own basis and coupling map are
            # device_gates and device_connectivity
            native_gates=frozenset(GATES) | {"unitary"},
            connectivity=None,
            supports_exact=False,
            supports_shots=True,
            supports_statevector=False,
            supports_state_prep=False,
            max_shots=int(max_shots) if max_shots else 100_000,
            batched=True,
            gradient_methods=("parameter-shift",),
            simulator=simulator,
            # local testing mode seeds Aer's sampler (seed_simulator, below); a QPU cannot be seeded
            seeded=simulator,
            noisy=True,
            gpu=False,
            precisions=("single", "double"),
        )

    @property
    def target(self) -> Target:
        return self._target

    # -- compile --------------------------------------------------------------------------------
    def native_circuit(self, circuit: Circuit) -> Circuit:
        """The circuit without measurements; basis translation and routing are Qiskit's job."""
        return circuit.without_measurements()

    def _pm(self) -> Any:
        if self._pass_manager is None:
            from qiskit.transpiler import generate_preset_pass_manager

            self._pass_manager = generate_preset_pass_manager(
                optimization_level=self._optimization_level, backend=self.device,
                seed_transpiler=self._seed_transpiler,
            )
        return self._pass_manager

    def native_program_text(self, compiled: CompiledTask) -> str:
        """The transpiled ISA circuit (the device's gates and layout) as OpenQASM 3."""
        prog = compiled.program
        if isinstance(prog, _Program):
            from qiskit import qasm3

            try:
                return qasm3.dumps(prog.isa)
            except Exception as exc:  # noqa: BLE001 - a dry run still shows what it can
                return f"// ISA circuit not printable as OpenQASM 3: {exc}"
        return super().native_program_text(compiled)

    def _translate(self, circuit: Circuit, task: Any, config: RunConfig) -> _Program:
        phases = bool(task.inputs) and self._qk.needs_phases(task.inputs)
        key = (circuit, phases)
        prog = self._cache.get(key)
        if prog is not None:
            self._cache.move_to_end(key)
            self.stats["cache_hits"] += 1
            return prog
        from qiskit import ClassicalRegister

        template = self._qk.to_qiskit_template(circuit, encoding="rotations", phases=phases, global_phase=False)
        qc = template.circuit.copy()
        n = circuit.num_qubits
        qc.add_register(ClassicalRegister(n, _REGISTER))
        qc.measure(list(range(n)), list(range(n)))  # logical qubit q -> classical bit q
        try:
            basis = getattr(getattr(self.device, "target", None), "operation_names", ("u",))
            isa = self._pm().run(self._qk.expand_symbolic_u(qc, basis))
        except Exception as exc:  # the transpiler raises several unrelated types
            raise ValidationError(
                f"{self.backend_name}: Qiskit could not transpile the circuit for {self.device.name}: {exc}",
                backend=self.backend_name,
            ) from exc
        self.stats["transpiles"] += 1
        prog = _Program(isa, template, tuple(p.name for p in isa.parameters))
        self._cache[key] = prog
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return prog

    def clear_cache(self) -> None:
        self._cache.clear()

    # -- execute --------------------------------------------------------------------------------
    def _sampler_options(self, config: RunConfig) -> dict[str, Any]:
        return self._with_native(dict(self._user_sampler_options), config)

    # -- native mitigation (the protocol of qbridge.mitigation.native) ---------------------------
    # SamplerV2 offers Pauli twirling and dynamical decoupling; resilience levels (measurement
    # mitigation, ZNE) are EstimatorV2 options, which this Sampler-based adapter does not use.
    _NATIVE = {"twirling": {"enable_gates": True, "enable_measure": True},
               "dynamical_decoupling": {"enable": True}}

    def native_mitigation(self) -> dict[str, Any]:
        """What ``mitigation="native"`` asks the Sampler for, and whether it takes effect."""
        return {"service": "qiskit-ibm-runtime SamplerV2", "sampler_options": self._NATIVE, "effective": True}

    def _with_native(self, opts: dict[str, Any], config: RunConfig) -> dict[str, Any]:
        if "native" in config.mitigation:
            for key, sub in self._NATIVE.items():
                opts[key] = {**sub, **dict(opts.get(key, {}))}  # the user's own sampler_options win
        return opts

    def _pubs(self, tasks: Sequence[CompiledTask], config: RunConfig) -> tuple[list[tuple], list[tuple[int, bool]]]:
        pubs: list[tuple] = []
        layout: list[tuple[int, bool]] = []  # (B, split the shots of one unbound PUB into B rows)
        for comp in tasks:
            prog: _Program = comp.program
            task = comp.task
            B = task.batch_size
            if not prog.parameter_names:
                pubs.append((prog.isa, None, config.shots * B))
                layout.append((B, B > 1))
                continue
            columns = dict(zip(task.circuit.parameter_names, task.parameter_array().T))
            if prog.template.encoding == "rotations":
                angles, _ = prog.template.input_angles(task.inputs, B)  # phases do not change counts
                columns.update(angles)
            try:
                values = np.column_stack([np.broadcast_to(np.asarray(columns[name], float), (B,))
                                          for name in prog.parameter_names])
            except KeyError as exc:  # pragma: no cover - the transpiler invented a parameter
                raise JobError(f"{self.backend_name}: no value for ISA parameter {exc}", backend=self.backend_name) from None
            pubs.append((prog.isa, values, config.shots))
            layout.append((B, False))
        return pubs, layout

    def _use_store(self, config: RunConfig) -> bool:
        """Whether this run goes through qbridge's job store (budget, durable record, resume)."""
        return bool(config.settings.cloud.store)

    def _execute(self, tasks: Sequence[CompiledTask], config: RunConfig) -> list[TaskResult]:
        pubs, layout = self._pubs(tasks, config)
        if self._use_store(config):
            from .cloud import sample_via_store

            job_id, per_pub = sample_via_store(self, pubs, layout, config)
        else:
            job_id, per_pub = self._sample_direct(pubs, layout, config)
        self.stats["runs"] += 1
        self.stats["pubs"] += len(pubs)
        out: list[TaskResult] = []
        for comp, rows, (B, _) in zip(tasks, per_pub, layout):
            n = comp.circuit.num_qubits
            isa = comp.program.isa
            out.append(TaskResult(
                batch_size=B, num_qubits=n, counts=tuple(rows), shots=config.shots,
                metadata={"device": self.device.name, "job_id": job_id, "layout": self._layout(isa, n),
                          "isa_depth": isa.depth(), "isa_ops": dict(isa.count_ops()),
                          **({"native_mitigation": self.native_mitigation()} if "native" in config.mitigation else {})},
            ))
        return out

    def _sample_direct(self, pubs: list[tuple], layout: list[tuple[int, bool]],
                       config: RunConfig) -> tuple[str | None, list[list[dict[str, int]]]]:
        """One SamplerV2 job with every PUB; counts per PUB per row, in qbridge order."""
        from qiskit_ibm_runtime import SamplerV2

        with warnings.catch_warnings():
            # qiskit-ibm-runtime 0.50 deprecates SamplerV2 in favour of a client-side Sampler that is
            # not yet the default; the warning is about this adapter's choice, not the user's code
            warnings.filterwarnings("ignore", message=".*SamplerV2 class is deprecated.*", category=DeprecationWarning)
            sampler = SamplerV2(mode=self.device, options=self._sampler_options(config))
        try:
            job = sampler.run(pubs)  # PUBs as (circuit, values or None, shots)
            result = job.result()
        except Exception as exc:  # Runtime and Aer raise many unrelated types
            raise JobError(f"{self.backend_name}: the Sampler job failed: {exc}", backend=self.backend_name) from exc
        per_pub: list[list[dict[str, int]]] = []
        for pub_result, (B, split) in zip(result, layout):
            bits = getattr(pub_result.data, _REGISTER)
            if split:  # one unbound circuit ran B x shots: each row is its own slice of shots
                S = config.shots
                rows = [bits.slice_shots(range(b * S, (b + 1) * S)).get_counts() for b in range(B)]
            elif bits.ndim == 0:
                rows = [bits.get_counts()]
            else:
                rows = [bits.get_counts(loc=b) for b in range(B)]
            per_pub.append([self._qk.counts_from_qiskit(r) for r in rows])
        return (job.job_id() if hasattr(job, "job_id") else None), per_pub


    @staticmethod
    def _layout(isa: Any, n: int) -> list[int] | None:
        """Physical qubit of each logical qubit at the start of the ISA circuit."""
        layout = getattr(isa, "layout", None)
        if layout is None:
            return None
        return [int(p) for p in layout.initial_index_layout(filter_ancillas=True)[:n]]


class IBMFakeBackend(SamplerBackend):
    """A calibrated fake IBM device, run in Qiskit Runtime's local testing mode (noisy, shots only).

    Options: ``backend`` (a name from ``qiskit_ibm_runtime.fake_provider`` such as ``"fake_manila"``,
    or a fake device object; default ``fake_manila``), ``optimization_level`` (default 1),
    ``seed_transpiler`` (default 1234), ``sampler_options``.
    """

    name = "ibm.fake"
    description = "A fake IBM device (qiskit_ibm_runtime.fake_provider) with its calibrated noise, in local testing mode."

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        reason = _missing(("qiskit", "qiskit"), ("qiskit_ibm_runtime", "qiskit-ibm-runtime"), ("qiskit_aer", "qiskit-aer"))
        return (reason is None), reason or ""

    def __init__(self, *, name: str | None = None, backend: Any = DEFAULT_FAKE, optimization_level: int = 1,
                 seed_transpiler: int | None = 1234, sampler_options: Mapping[str, Any] | None = None) -> None:
        super().__init__(name=name, backend=backend if isinstance(backend, str) else getattr(backend, "name", backend),
                         optimization_level=optimization_level, seed_transpiler=seed_transpiler)
        from qbridge.interop import qiskit as qk

        if isinstance(backend, str):
            self.device = qk.fake_backend(backend)
        else:
            from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

            if not isinstance(backend, FakeBackendV2):
                raise TypeError(f"backend must be a fake device name like 'fake_manila' or a FakeBackendV2, got {type(backend).__name__}")
            self.device = backend
        self._setup(optimization_level=optimization_level, seed_transpiler=seed_transpiler,
                    sampler_options=sampler_options, simulator=True)

    def native_mitigation(self) -> dict[str, Any]:
        info = super().native_mitigation()
        # local testing mode runs Aer with the device's noise and ignores these options (it warns so)
        return {**info, "effective": False,
                "note": "Qiskit Runtime's local testing mode ignores twirling and dynamical decoupling; "
                        "these counts are unmitigated"}

    def _sampler_options(self, config: RunConfig) -> dict[str, Any]:
        opts = self._with_native(dict(self._user_sampler_options), config)
        if config.seed is not None:
            sim = dict(opts.get("simulator", {}))
            # local testing mode drops a seed of 0 (it tests the value for truth): shift by one
            sim["seed_simulator"] = int(config.seed) % (2**32 - 1) + 1
            opts["simulator"] = sim
        return opts


_ACCOUNT_FIX = (
    "save an IBM Quantum account once with "
    "QiskitRuntimeService.save_account(channel='ibm_quantum_platform', token='<API key>', "
    "instance='<instance CRN>', set_as_default=True), or pick a saved one with "
    "channel=/instance=/account=; the fake devices of 'ibm.fake' need no account"
)


class IBMRuntimeBackend(SamplerBackend):
    """A real IBM Quantum device through Qiskit Runtime (SamplerV2 in job mode; shots only).

    Options: ``backend`` (device name such as ``"ibm_brisbane"``; default the least busy
    operational device), ``channel``, ``instance``, ``account`` (name of a saved account),
    ``filename`` (account file), ``token``, or ``service`` (a ``QiskitRuntimeService`` to use as
    is), plus ``optimization_level``, ``seed_transpiler`` and ``sampler_options``. The account
    is looked up when the backend is created; a run blocks until its Runtime job finishes.
    """

    name = "ibm.runtime"
    description = "A real IBM Quantum device through Qiskit Runtime (needs a saved account to run; plans offline)."

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        reason = _missing(("qiskit", "qiskit"), ("qiskit_ibm_runtime", "qiskit-ibm-runtime"))
        return (reason is None), reason or ""

    @classmethod
    def credentials(cls) -> tuple[bool, str]:
        """(configured, where or how to configure): the environment and Qiskit's account file only."""
        from .snapshots import ibm_account

        return ibm_account()

    def __init__(self, *, name: str | None = None, backend: str | None = None, channel: str | None = None,
                 instance: str | None = None, account: str | None = None, filename: str | None = None,
                 token: str | None = None, service: Any = None, optimization_level: int = 1,
                 seed_transpiler: int | None = 1234, sampler_options: Mapping[str, Any] | None = None,
                 source: str = "auto", usd_per_second: float | None = None) -> None:
        # the token is never kept in self.options (it would show up in reprs and job records)
        if source not in ("auto", "live", "snapshot"):
            raise ValueError(f"source must be 'auto', 'live' or 'snapshot', got {source!r}")
        if usd_per_second is not None and (isinstance(usd_per_second, bool) or not isinstance(usd_per_second, (int, float))
                                           or not usd_per_second >= 0):
            raise ValueError(f"usd_per_second must be a non-negative number, got {usd_per_second!r}")
        extra = {"usd_per_second": float(usd_per_second)} if usd_per_second is not None else {}
        super().__init__(name=name, backend=backend, channel=channel, instance=instance, account=account,
                         optimization_level=optimization_level, seed_transpiler=seed_transpiler, **extra)
        self.offline = False
        self.device_source: dict[str, Any] = {"source": "live"}
        if service is None:
            from .snapshots import ibm_account

            configured, how = (True, "a token was given") if token else ibm_account()
            if source == "snapshot" or (source == "auto" and not configured and not (channel or account or filename)):
                self._from_snapshot(backend, how, configured)
                return
            self.device_source["credentials"] = how
            service = self._connect(channel=channel, instance=instance, account=account, filename=filename, token=token)
        self.service = service
        try:
            if backend is None:
                self.device = service.least_busy(operational=True, simulator=False)
            else:
                self.device = service.backend(backend)
        except Exception as exc:  # not found, not authorised, network: all mean "cannot use it"
            raise BackendUnavailableError(
                f"{self.backend_name}: cannot get IBM device {backend or '(least busy)'!r}: {exc}; "
                "check the name with QiskitRuntimeService().backends()",
                backend=self.backend_name,
            ) from exc
        simulator = False
        try:
            simulator = bool(getattr(self.device.configuration(), "simulator", False))
        except Exception:  # noqa: BLE001 - BackendV2 without a configuration
            simulator = False
        self._setup(optimization_level=optimization_level, seed_transpiler=seed_transpiler,
                    sampler_options=sampler_options, simulator=simulator)
        self._compare_with_snapshot()

    def _from_snapshot(self, backend: str | None, how: str, configured: bool) -> None:
        """Plan and price offline: the device is qiskit-ibm-runtime's fake of the named device."""
        from qbridge.interop import qiskit as qk

        from .snapshots import fake_name_for, snapshot_info

        if not backend:
            raise BackendUnavailableError(
                f"{self.backend_name}: {how}. Without an account, name the device to plan for: --option "
                "backend=ibm_brisbane (`qbridge devices --provider ibm` lists the offline snapshots)",
                backend=self.backend_name,
            )
        fake = fake_name_for(backend)
        if fake is None:
            raise BackendUnavailableError(
                f"{self.backend_name}: {how}; qiskit-ibm-runtime ships no snapshot (fake device) of {backend!r} "
                "(`qbridge devices --provider ibm` lists them)", backend=self.backend_name,
            )
        self.offline = True
        self.service = None
        self.device = qk.fake_backend(fake)
        info = snapshot_info(backend) or {}
        self.device_source = {**info, "credentials": how if not configured else f"{how} (not used: source='snapshot')",
                              "note": f"planned against qiskit-ibm-runtime's snapshot {fake} dated "
                                      f"{info.get('snapshot_as_of')}, not the live device; nothing can be sent"}
        o = self.options
        self._setup(optimization_level=o["optimization_level"], seed_transpiler=o["seed_transpiler"],
                    sampler_options=None, simulator=False)

    def _compare_with_snapshot(self) -> None:
        """Live properties win; differences from the fake-device snapshot are reported."""
        from .snapshots import fake_name_for, snapshot_info

        fake = fake_name_for(getattr(self.device, "name", ""))
        if fake is None:
            self.device_source.update({"snapshot_as_of": None, "differences": None})
            return
        from qbridge.interop import qiskit as qk

        snap = qk.fake_backend(fake)
        diff = []
        if int(snap.num_qubits) != int(self.device.num_qubits):
            diff.append(f"qubits: snapshot {snap.num_qubits}, live {self.device.num_qubits}")
        so, lo = set(snap.target.operation_names), set(self.device.target.operation_names)
        if so != lo:
            diff.append(f"operations: live adds {sorted(lo - so)}, lacks {sorted(so - lo)}")
        se = {tuple(sorted(e)) for e in (snap.coupling_map.get_edges() if snap.coupling_map else [])}
        le = {tuple(sorted(e)) for e in (self.device.coupling_map.get_edges() if self.device.coupling_map else [])}
        if se != le:
            diff.append(f"couplers: snapshot {len(se)}, live {len(le)}")
        info = snapshot_info(fake) or {}
        self.device_source.update({"snapshot_as_of": info.get("snapshot_as_of"), "differences": diff})
        if diff:
            warnings.warn(f"{self.device.name}: the live device differs from the snapshot {fake} of "
                          f"{info.get('snapshot_as_of')} (live is used): {'; '.join(diff)}", UserWarning, stacklevel=3)

    def _execute(self, tasks: Sequence[CompiledTask], config: RunConfig) -> list[TaskResult]:
        if self.offline:
            from .snapshots import ibm_account

            raise BackendUnavailableError(
                f"{self.backend_name} was made from the offline snapshot of {self.options.get('backend')} (no IBM "
                f"Quantum account configured): it plans and prices runs (--dry-run), it sends nothing. "
                f"{ibm_account()[1]}. Nothing was sent", backend=self.backend_name,
            )
        return super()._execute(tasks, config)

    def _use_store(self, config: RunConfig) -> bool:
        # a real device always goes through the job store (budget checked and intent recorded
        # before anything is sent; qbridge_ibm.cloud); a fake device handed in by a test service
        # runs in local testing mode, recorded only when a store is named
        return True

    def _connect(self, **kwargs: Any) -> Any:
        try:
            from qiskit_ibm_runtime import QiskitRuntimeService
            from qiskit_ibm_runtime.exceptions import IBMAccountError
        except ImportError as exc:
            raise BackendUnavailableError(
                f"{self.backend_name}: qiskit-ibm-runtime cannot be imported ({exc}); pip install qiskit-ibm-runtime",
                backend=self.backend_name,
            ) from None
        args = {k: v for k, v in kwargs.items() if v is not None}
        if "account" in args:
            args["name"] = args.pop("account")
        try:
            return QiskitRuntimeService(**args)
        except IBMAccountError as exc:
            raise BackendUnavailableError(
                f"{self.backend_name}: no usable IBM Quantum account ({exc}); {_ACCOUNT_FIX}",
                backend=self.backend_name,
            ) from None
        except Exception as exc:  # authentication and network errors come in many types
            raise BackendUnavailableError(
                f"{self.backend_name}: could not connect to IBM Quantum ({type(exc).__name__}: {exc}); "
                "check the network and the saved account",
                backend=self.backend_name,
            ) from exc
