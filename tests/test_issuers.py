"""Issuer kinds from issuer names: the closed list, wrappers, the order of the rules, both scripts."""

from __future__ import annotations

import pytest

from classify.notices.issuers import ISSUER_KINDS, issuer_kind

CASES = {
    "中共宁波市科学技术局党组": "science_bureau",
    "中共某区教育局党组": "education",
    "中共青阳县第二中学支部委员会": "education",
    "中共桂東理工大學委員會": "university",
    "中共襄阳市卫生健康委员会党组": "health",
    "中共赣州市医疗保障局党组": "health",
    "中共宜宾市第一人民医院委员会": "hospital",
    "中共漯河市财政局党组": "finance_bureau",
    "嘉兴市审计局": "audit",
    "中共某县委宣传部": "propaganda_united_front",  # a county's department, not the county
    "中共锦江市委统战部": "propaganda_united_front",
    "縣科學技術協會黨組": "mass_organisation",  # 科协 is not a science bureau
    "共青团南县委员会": "mass_organisation",
    "中共交通运输部党组": "line_bureau",
    "中共溪桥区市场监督管理局党组": "line_bureau",
    "中共桐川县委": "local_government",
    "中共石桥镇委员会": "local_government",
    "中共上海虹桥国际中央商务区管理委员会党组": "local_government",
    "中共九江市城市发展集团有限公司委员会": "state_firm",
    "中共青岚县融媒体中心党组": "media",
    # full names and names as real pages give them
    "中共长宁区教育工作委员会": "education",  # 教育工作委员会, not a bureau's wrapper "委员会"
    "區教育工作黨委(區教育局)": "education",
    "市卫健委党组": "health",
    "河南大学第一附属医院": "hospital",  # a university's hospital is a hospital
    "第一临床医学院(第一附属医院、安徽省中医院)党委": "hospital",
    "市委统战部(含市台联、重庆欧美同学会)": "propaganda_united_front",
    "中共某区机关工作委员会": "line_bureau",
    "郑州市": "local_government",  # a city inspected as a whole ("对郑州市进行了巡视")
    "均川镇": "local_government",
    "县育才中学党委(县中职校)": "education",
    "安庆一中党委": "education",  # a school by its short name
    "中共临沂二中委员会": "education",
    "华南师大附中党委": "education",
    "中共某县委员会": "local_government",
}


@pytest.mark.parametrize("name", list(CASES))
def test_kind_of_known_issuers(name: str) -> None:
    assert issuer_kind(name) == CASES[name]


def test_unknown_and_missing_issuers_are_other() -> None:
    assert issuer_kind(None) == "other" and issuer_kind("") == "other" and issuer_kind("张三") == "other"
    assert issuer_kind("晋江市政协机关") == "other" and issuer_kind("湖北省") == "other"  # no rule places them
    assert set(CASES.values()) | {"other"} <= set(ISSUER_KINDS)


def test_corpus_kinds_agree_with_the_source_lists() -> None:
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "data" / "notices"
    for folder in ("real", "synthetic"):
        for line in (root / folder / "sources.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            assert issuer_kind(row["issuer"]) == row["issuer_kind"], row["file"]
