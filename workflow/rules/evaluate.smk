rule evaluate:
    input:
        predictions=model_files("predictions.csv"),
        metrics=model_files("metrics.json"),
        history=model_files("history.csv"),
        leak=expand(rules.leak.output.predictions, model=LEAK),
        folds=rules.folds.output.folds,
        # records left out by data.on_bad_record: skip are listed in the report
        segments_qc=rules.segment.output.qc,
        gallery=rules.gallery.output.png,
        # Grad-CAM maps of every cnn2d model (rule explain), shown in the report
        attribution_png=expand(rules.explain.output.png, model=CNN2D),
        attribution_csv=expand(rules.explain.output.csv, model=CNN2D),
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
        folds=FOLDS,
        seeds=SEEDS,
        classes=CLASSES,
        leak_models=LEAK,
        evaluate=config["evaluate"],
    script:
        "../scripts/evaluate.py"
