# Experiments side by side (config experiments: / experiment_grid:): every
# experiment x model in one table, and each experiment against the reference
# (compare.reference) on the same subjects, with paired intervals and tests.
if GRID:

    rule compare:
        input:
            compare_inputs(),
        output:
            **COMPARE_OUTPUTS,
        log:
            "logs/compare.log",
        conda:
            "../../envs/report.yaml"
        params:
            layout=compare_layout(),
            reference=reference_experiment(config, EXPERIMENTS),
            settings=experiment_settings(),
            classes=CLASSES,
            evaluate=config["evaluate"],
        script:
            "../scripts/compare.py"
