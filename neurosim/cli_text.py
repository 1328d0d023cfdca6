"""Descriptions and examples of the ``neurosim`` command line (what ``--help`` shows).

Imports nothing. ``cli.build_parser`` reads ``DESCRIPTIONS`` and ``EXAMPLES`` by subcommand;
``tests/test_cli_help.py`` checks every subcommand has both and every option has help.
"""

PROGRAM = (
    "neurosim: convert quantized ANNs to spiking networks, run them bit-exactly and estimate "
    "their latency, stalls and energy on PE-array or multi-core neuromorphic hardware. Every "
    "hardware figure is a modelled estimate from the named hardware config and energy table."
)

PROGRAM_EXAMPLES = """examples:
  neurosim run                                  the bundled digits CNN, every scheme
  neurosim table --out results/                 the papers' comparison table and plots
  neurosim sweep pe_array_small --out sweep/    a resumable architecture sweep
  neurosim inspect --hw multicore               how the model maps onto a config
  neurosim <command> --help                     options of one command"""

DESCRIPTIONS = {
    "run": (
        "Convert a model to each scheme (or the ones named), run it bit-exactly on the inputs "
        "and time a stream of samples on a hardware config. Prints one row per scheme with "
        "accuracy, time-steps, latency, throughput, stalls and energy per inference "
        "(modelled); --columns picks the columns, --json writes every column with provenance."
    ),
    "table": (
        "The papers' comparison: every scheme at the time-step settings of its papers, on one "
        "hardware config. Writes table.csv (exact values, provenance in "
        "table.provenance.json), table.md and table.tex (rounded to --digits significant "
        "digits, provenance in a footer), and plots (trade-offs, energy and cycles per layer)."
    ),
    "sweep": (
        "Run an architecture sweep described by a .sweep.toml file over hardware fields and "
        "conversion settings. The functional pass runs once per conversion setting; every "
        "hardware point is then costed (in parallel, resumable). Writes results.csv, "
        "pareto.csv (each with a provenance sidecar) and plots."
    ),
    "inspect": (
        "Show how a model maps onto a hardware config: tiles and bytes per layer for a PE "
        "array, cores and hops for a multi-core chip, with a totals row. Nothing is simulated."
    ),
    "import": (
        "Read a model in another format and write it as a native model file that run, table, "
        "inspect and sweeps read: an ONNX QDQ/QCDQ graph becomes a quantized ANN, a NIR graph "
        "an integer lif SNN (the NIR options below set its discretisation and quantization)."
    ),
    "export": (
        "Write an SNN (any scheme; a quantized ANN is converted first with --scheme) as a NIR "
        "graph. What NIR cannot express is kept in node metadata, so neurosim reads its own "
        "export back bit for bit."
    ),
    "validate": (
        "Compare neurosim's hardware figures with outside simulators: SCALE-Sim's compute "
        "cycles on systolic arrays and SANA-FE's spikes, energy and latency on Loihi-like "
        "cores. Uses recorded reference figures unless the tool is installed; exits 1 if a "
        "check is outside its tolerance."
    ),
}

EXAMPLES = {
    "run": """examples:
  neurosim run --scheme if --num-steps 8
  neurosim run --hw multicore --columns timing
  neurosim run --set dram.bandwidth_gbps=25.6 --json run.json
  neurosim run --model zoo:resnet20 --samples 4 --timeline timeline.png""",
    "table": """examples:
  neurosim table --out results/
  neurosim table --out results/ --hw my_chip.hw.toml --digits 3 --pdf""",
    "sweep": """examples:
  neurosim sweep pe_array_small --out sweep/
  neurosim sweep my.sweep.toml --out sweep/ --workers 2   (rerun to resume)""",
    "inspect": """examples:
  neurosim inspect --hw pe_array
  neurosim inspect --hw multicore --scheme sws --set mesh.width=16 --set mesh.height=8""",
    "import": """examples:
  neurosim import model.onnx -o model.qann.npz
  neurosim import graph.nir -o model.snn.npz --reset subtract --weight-bits 8""",
    "export": """examples:
  neurosim export model.snn.npz -o model.nir
  neurosim export neurosim/data/digits.qann.npz --scheme lif --leak 0.9375 -o digits.nir""",
    "validate": """examples:
  neurosim validate --quick
  neurosim validate --live --tool-python ~/venvs/tools/bin/python --write-docs""",
}

HW_HELP = (
    "hardware config: a shipped name or a .hw.toml path; a file may start with "
    'base = "pe_array" and name only the fields it changes'
)
SET_HELP = (
    "change one hardware field by its dotted path, e.g. dram.bandwidth_gbps=25.6 "
    "(repeatable; validated like the TOML file; fields: docs/hwconfig.md)"
)
BATCH_HELP = "samples per functional batch (memory vs speed; results do not depend on it)"
JOBS_HELP = (
    "settings simulated at once (default: 2 on a machine with 2 or more CPUs, each with half "
    "the threads; 1: one after the other, less memory; results do not depend on it)"
)
