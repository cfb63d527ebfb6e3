"""evaluate: predictions in, numbers and a report out. The predictions contract (``predictions.csv``),
metrics at segment/recording/subject level with subject-bootstrap intervals, paired statistics, and
the report (tables, text, figures).

Knows nothing of how a model was trained: it imports ``ecgcwt.config`` only (and reads files).
Training scores each fold through it, which is why it sits below ``ecgcwt.learn``.
"""

from ecgcwt._exports import lazy_face

__all__, __getattr__, __dir__ = lazy_face(
    __name__,
    {
        # predictions contract
        "ID_COLUMNS": ".predictions",
        "prob_columns": ".predictions",
        "raw_prob_columns": ".predictions",
        "classes_of": ".predictions",
        "build_predictions": ".predictions",
        "check_predictions": ".predictions",
        "write_predictions": ".predictions",
        "read_predictions": ".predictions",
        # metrics
        "LEVELS": ".metrics",
        "SCALAR_METRICS": ".metrics",
        "PER_CLASS_METRICS": ".metrics",
        "METRIC_FUNCTIONS": ".metrics",
        "accuracy": ".metrics",
        "balanced_accuracy": ".metrics",
        "balanced_accuracy_from_confusion": ".metrics",
        "mean_recall": ".metrics",
        "macro_f1": ".metrics",
        "confusion": ".metrics",
        "aggregate": ".metrics",
        "flat_metrics": ".metrics",
        "classification_metrics": ".metrics",
        "evaluate_predictions": ".metrics",
        "bootstrap_ci": ".metrics",
        "clopper_pearson": ".metrics",
        "exact_intervals": ".metrics",
        "INTERVAL_METHOD": ".metrics",
        "bootstrap_metrics": ".metrics",
        "subject_resample_weights": ".metrics",
        # calibration
        "N_BINS": ".calibration",
        "CALIBRATION_LEVELS": ".calibration",
        "CALIBRATION_COLUMNS": ".calibration",
        "expected_calibration_error": ".calibration",
        "brier_score": ".calibration",
        "reliability_bins": ".calibration",
        "calibration_table": ".calibration",
        # model cards
        "PREPROCESSING_TEXT": ".model_card",
        "INTENDED_USE": ".model_card",
        "model_card_text": ".model_card",
        "write_model_card": ".model_card",
        "card_facts_from_meta": ".model_card",
        "card_model_sha256": ".model_card",
        "file_sha256": ".model_card",
        "MODEL_HASH_FIELD": ".model_card",
        # statistics
        "mcnemar_exact": ".stats",
        "mcnemar_p_value": ".stats",
        "paired_bootstrap_difference": ".stats",
        "compare_models": ".stats",
        "unit_outcomes": ".stats",
        "best_model": ".stats",
        "interpretation": ".stats",
        "format_p": ".stats",
        # report
        "ModelRuns": ".report",
        "LeakRun": ".report",
        "build_report": ".report_steps",
        "resolve_evaluate_config": ".report",
        # several training seeds
        "ensemble_predictions": ".seeds",
        "seeds_table": ".seeds",
        "mean_over_seeds": ".seeds",
        "ENSEMBLE_SUFFIX": ".seeds",
        "SEEDS_COLUMNS": ".seeds",
        "validation_sentence": ".report_text",
        # experiments compared (results/compare/)
        "ExperimentResult": ".compare",
        "build_comparison": ".compare",
        "holm": ".compare",
        "training_seconds": ".compare",
        "COMPARISON_COLUMNS": ".compare",
        "DIFFERENCE_COLUMNS": ".compare",
        "MIN_SUBJECTS_PER_CLASS": ".compare",
    },
)
