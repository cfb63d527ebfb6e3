# Under the SLURM executor, before the first sbatch: every job must fit some node
# of its partition (sinfo). A job asking for more CPUs than any node has would
# stay PENDING forever without a word, a GPU job in a partition without GPUs is
# refused: the run stops here instead, naming the rule and what to change.
onstart:
    if (
        workflow.executor_plugin is not None
        and workflow.executor_plugin.name == "slurm"
    ):
        from snakemake.exceptions import WorkflowError
        from snakemake.logging import logger
        from ecgcwt.cluster import check_slurm_jobs

        problems = check_slurm_jobs(
            (
                (job.rule.name, job.threads, job.resources)
                for job in workflow.dag.needrun_jobs()
                if not job.is_local
            ),
            log=logger.warning,
        )
        if problems:
            raise WorkflowError(
                "jobs that no node of their SLURM partition can run:\n"
                + "\n".join(f"  {p}" for p in problems)
            )
