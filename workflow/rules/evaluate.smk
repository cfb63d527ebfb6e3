# The runs and explanation maps the report reads, by name: their files are the
# rule's inputs, and the same mappings reach the job as params (no list order).
# With experiments, each experiment's (the job's {experiment}).
rule evaluate:
    input:
        predictions=run_files("predictions"),
        metrics=run_files("metrics"),
        history=run_files("history"),
        leak=lambda wc: [f["predictions"] for f in leak_runs(run_of(wc)).values()],
        # external.path set: every model's scores on the external records (rule external)
        external=lambda wc: list(external_metrics(run_of(wc)).values()),
        folds=file_of("folds"),
        # records left out by data.on_bad_record: skip are listed in the report
        segments_qc=file_of("segments_qc"),
        gallery=file_of("gallery"),
        # Grad-CAM maps of every model whose kind explains (rule explain), shown in the report
        attribution=lambda wc: [
            f for files in explanations(run_of(wc)).values() for f in files.values()
        ],
    output:
        # leak.csv, only when leak_comparison.model is set
        **leak_report_output(),
        ranking=report(
            PATHS["report_dir"] + "ranking.csv",
            caption="../report/ranking.rst",
            category="Evaluation",
        ),
        statistics=report(
            PATHS["report_dir"] + "statistics.csv",
            caption="../report/statistics.rst",
            category="Evaluation",
        ),
        summary=report(
            PATHS["report_dir"] + "summary.csv",
            caption="../report/summary.rst",
            category="Evaluation",
        ),
        per_fold=PATHS["report_dir"] + "per_fold.csv",
        seeds=report(
            PATHS["report_dir"] + "seeds.csv",
            caption="../report/seeds.rst",
            category="Evaluation",
        ),
        calibration=report(
            PATHS["report_dir"] + "calibration.csv",
            caption="../report/calibration.rst",
            category="Evaluation",
        ),
        comparison=report(
            PATHS["report_dir"] + "figures/model_comparison.png",
            caption="../report/model_comparison.rst",
            category="Evaluation",
        ),
        roc=report(
            PATHS["report_dir"] + "figures/roc.png",
            caption="../report/roc.rst",
            category="Evaluation",
        ),
        markdown=PATHS["report_dir"] + "report.md",
        html=report(
            PATHS["report_dir"] + "report.html",
            caption="../report/report.rst",
            category="Evaluation",
        ),
    log:
        PATHS["evaluate_log"],
    benchmark:
        PATHS["evaluate_benchmark"]
    conda:
        "../../envs/report.yaml"
    params:
        models=lambda wc: report_models(run_of(wc)),
        runs=lambda wc: evaluation_runs(run_of(wc)),
        attribution=lambda wc: explanations(run_of(wc)),
        classes=CLASSES,
        leak=lambda wc: leak_runs(run_of(wc)),
        external=lambda wc: external_metrics(run_of(wc)),
        evaluate=lambda wc: conf(wc)["evaluate"],
    script:
        "../scripts/evaluate.py"
