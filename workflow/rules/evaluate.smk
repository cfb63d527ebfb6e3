# The runs and explanation maps the report reads, by name: their files are the
# rule's inputs, and the same mappings reach the job as params (no list order).
EVALUATION_RUNS = evaluation_runs()
EXPLANATIONS = files_by_model(
    EXPLAINED, {"png": rules.explain.output.png, "csv": rules.explain.output.csv}
)
LEAK_RUNS = files_by_model(LEAK, {"predictions": rules.leak.output.predictions})
EXTERNAL_METRICS = external_metrics()


rule evaluate:
    input:
        predictions=table_files(EVALUATION_RUNS, "predictions"),
        metrics=table_files(EVALUATION_RUNS, "metrics"),
        history=table_files(EVALUATION_RUNS, "history"),
        leak=[files["predictions"] for files in LEAK_RUNS.values()],
        # external.path set: every model's scores on the external records (rule external)
        external=list(EXTERNAL_METRICS.values()),
        folds=rules.folds.output.folds,
        # records left out by data.on_bad_record: skip are listed in the report
        segments_qc=rules.segment.output.qc,
        gallery=rules.gallery.output.png,
        # Grad-CAM maps of every model whose kind explains (rule explain), shown in the report
        attribution=[f for files in EXPLANATIONS.values() for f in files.values()],
    output:
        # leak.csv, only when leak_comparison.model is set
        **leak_report_output(),
        ranking=report(
            "results/report/ranking.csv",
            caption="../report/ranking.rst",
            category="Evaluation",
        ),
        statistics=report(
            "results/report/statistics.csv",
            caption="../report/statistics.rst",
            category="Evaluation",
        ),
        summary=report(
            "results/report/summary.csv",
            caption="../report/summary.rst",
            category="Evaluation",
        ),
        per_fold="results/report/per_fold.csv",
        seeds=report(
            "results/report/seeds.csv",
            caption="../report/seeds.rst",
            category="Evaluation",
        ),
        calibration=report(
            "results/report/calibration.csv",
            caption="../report/calibration.rst",
            category="Evaluation",
        ),
        comparison=report(
            "results/report/figures/model_comparison.png",
            caption="../report/model_comparison.rst",
            category="Evaluation",
        ),
        roc=report(
            "results/report/figures/roc.png",
            caption="../report/roc.rst",
            category="Evaluation",
        ),
        markdown="results/report/report.md",
        html=report(
            "results/report/report.html",
            caption="../report/report.rst",
            category="Evaluation",
        ),
    log:
        "logs/evaluate.log",
    benchmark:
        "results/benchmarks/evaluate.tsv"
    conda:
        "../../envs/report.yaml"
    params:
        models=report_models(),
        runs=EVALUATION_RUNS,
        attribution=EXPLANATIONS,
        classes=CLASSES,
        leak=LEAK_RUNS,
        external=EXTERNAL_METRICS,
        evaluate=config["evaluate"],
    script:
        "../scripts/evaluate.py"
