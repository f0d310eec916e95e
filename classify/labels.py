"""The five categories of ../shared/codebook.md, in a fixed order used everywhere."""

LABELS: tuple[str, ...] = ("political_study", "ideology", "finance", "personnel", "tech_policy")

LABEL_NAMES_ZH: dict[str, str] = {
    "political_study": "政治建设与理论学习",
    "ideology": "意识形态",
    "finance": "财务与资金监管",
    "personnel": "干部人事与机构编制",
    "tech_policy": "科技政策与业务",
}
