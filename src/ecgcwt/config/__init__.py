"""config: load and validate the workflow's configuration; the models of a run, by name.

The lowest wing: every other wing may import it, it imports none of them.
The JSON schema and the citation file ship here as package data (``schema.yaml``, ``CITATION.cff``).
"""

from ecgcwt._exports import lazy_face

__all__, __getattr__, __dir__ = lazy_face(
    __name__,
    {
        # loading and checking
        "load_config": ".load",
        "merge_config_files": ".load",
        "read_config_file": ".load",
        "validate_config": ".load",
        "check_config": ".load",
        "effective_config_yaml": ".load",
        "default_config": ".load",
        "SYNTHETIC_CLASSES": ".load",
        "load_schema": ".validate",
        "validate_section": ".validate",
        "check_augment": ".validate",
        "augment_signal_on": ".validate",
        "schema_of": ".validate",
        "schema_range": ".validate",
        "deep_update": ".validate",
        "check_backbones": ".validate",
        "check_weights_file": ".validate",
        "check_wavelet_name": ".validate",
        # models of a run
        "MODEL_KINDS": ".models",
        "model_specs": ".models",
        "check_model_specs": ".models",
        "names_of_kind": ".models",
        "names_of_rule": ".models",
        "ModelKind": ".models",
        "model_kind": ".models",
        "kind_of_meta": ".models",
        "names_with": ".models",
        "report_info": ".models",
        "leak_model": ".models",
        "training_seeds": ".models",
        "spec_for_seed": ".models",
        # the runs of a workflow by (model, seed, fold)
        "RUN_FILES": ".runs",
        "run_table": ".runs",
        "table_files": ".runs",
        "runs_by_model": ".runs",
        "files_by_model": ".runs",
        "check_declared": ".runs",
        # provenance (no heavy imports)
        "describe_data_source": ".provenance",
        "is_synthetic": ".provenance",
        "result_settings": ".provenance",
        "flat_settings": ".provenance",
        "config_hash": ".provenance",
        "environment_facts": ".provenance",
        "cpu_name": ".provenance",
        "git_state": ".provenance",
        "run_provenance": ".provenance",
        "RUN_ONLY_KEYS": ".provenance",
        "SYNTHETIC_WARNING": ".provenance",
        "RUN_SETTINGS": ".models",
        "tracked_section": ".models",
        "tracked_spec": ".models",
        "with_run_settings": ".models",
        # experiments of one run and the keys of their stages
        "GRID_KEYS": ".experiments",
        "has_experiments": ".experiments",
        "base_config": ".experiments",
        "expand_experiments": ".experiments",
        "experiment_overrides": ".experiments",
        "experiment_config": ".experiments",
        "job_config": ".experiments",
        "reference_experiment": ".experiments",
        "stage_keys": ".experiments",
        # how to cite (the packaged CITATION.cff)
        "citation_file": ".citation",
        "citation_text": ".citation",
        # backbone names (no torch)
        "supported_backbones": ".backbones",
        "unknown_backbone_hint": ".backbones",
        "EXTRA_BACKBONES": ".backbones",
        "BackboneFamily": ".backbones",
    },
)
