"""Products: tiers, workloads (token profiles, model mix, agentic calls), usage distributions per
tier and workload, workload correlations, and the editor's live per-request estimate.

Owns ``Product``, ``Tier``, ``Workload``, ``WorkloadModel``, ``UsageDistribution``,
``WorkloadCorrelation``. May import: ``planner.core``, ``planner.accounts``, ``planner.prices``,
``pricing``.
"""
