# Downloads need the internet: on a cluster they run on the submit host, not on
# compute nodes (which often have none).
localrules:
    download_physionet,


rule download_physionet:
    output:
        records="resources/physionet/{db}/RECORDS",
    log:
        "logs/download/{db}.log",
    retries: 1
    conda:
        "../../envs/data.yaml"
    resources:
        runtime=120,
    params:
        version=lambda wc: config["data"]["databases"][wc.db]["version"],
        records=lambda wc: records_of(wc.db),
        max_duration_s=config["data"]["max_duration_s"],
        url=config["data"]["physionet_url"],
        verify=config["data"]["verify"],
    script:
        "../scripts/download_physionet.py"


rule synthetic_database:
    output:
        records="resources/synthetic/{db}/RECORDS",
    log:
        "logs/synthetic/{db}.log",
    conda:
        "../../envs/data.yaml"
    params:
        label=lambda wc: config["data"]["databases"][wc.db]["label"],
        subjects=config["data"]["synthetic"]["subjects_per_class"],
        duration_s=config["data"]["synthetic"]["duration_s"],
        seed=config["data"]["synthetic"]["seed"],
    script:
        "../scripts/synthetic_database.py"


# MathWorks' ECGData.mat (data.path) as WFDB records, one folder per database
rule mathworks_database:
    input:
        ecgdata=lambda wc: config["data"]["path"],
    output:
        records="resources/mathworks/{db}/RECORDS",
    log:
        "logs/mathworks/{db}.log",
    conda:
        "../../envs/data.yaml"
    params:
        databases=config["data"]["databases"],
        records=config["data"]["mathworks"]["records"],
        fs=config["data"]["mathworks"]["fs"],
        pair_check=config["data"]["mathworks"]["pair_check"],
    script:
        "../scripts/mathworks_database.py"


rule segment:
    input:
        segment_inputs,
    output:
        segments=PATHS["segments"],
        qc=report(
            PATHS["segments_qc"],
            caption="../report/segments_qc.rst",
            category="Data",
        ),
    log:
        PATHS["segment_log"],
    benchmark:
        PATHS["segment_benchmark"]
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=4000,
    params:
        databases={
            db: {
                "path": database_dir(db),
                "label": v["label"],
                "records": records_of(db),
            }
            for db, v in config["data"]["databases"].items()
        },
        max_duration_s=config["data"]["max_duration_s"],
        subject_map=config["data"]["subject_map"],
        # an experiment's segments settings (the rest of data is every experiment's)
        segments=lambda wc: conf(wc)["segments"],
        source=config["data"]["source"],
        on_bad_record=config["data"]["on_bad_record"],
    script:
        "../scripts/segment.py"


rule folds:
    input:
        segments=file_of("segments"),
    output:
        folds=report(
            PATHS["folds"],
            caption="../report/folds.rst",
            category="Data",
        ),
    log:
        PATHS["folds_log"],
    conda:
        "../../envs/data.yaml"
    params:
        # folds.k; for loso {"loso": the subjects in fold order, as planned before the first job}
        k=lambda wc: (
            {LOSO: loso_subjects(wc)}
            if conf(wc)["folds"]["k"] == LOSO
            else conf(wc)["folds"]["k"]
        ),
        seed=lambda wc: conf(wc)["folds"]["seed"],
    script:
        "../scripts/folds.py"
