"""Issuer kinds: a closed list, derived from the issuer's name (the datasheet documents it).

The kind is a model input (an education bureau's line work reads unlike a science bureau's) and
the unit of leave-one-issuer-kind-out evaluation. Rules are tried in order; the first match wins,
so a 县委宣传部 is ``propaganda_united_front`` before it is ``local_government``.
"""

from __future__ import annotations

import re
from functools import lru_cache

# (kind, pattern on the simplified issuer name), most specific first.
_RULES: tuple[tuple[str, str], ...] = (
    ("propaganda_united_front", r"宣传部|统战部|统一战线工作部|网信办|网络安全和信息化|文明办"),
    ("mass_organisation", r"科学技术协会|科协|文联|文学艺术界联合会|社科联|社会科学界联合会|侨联|妇联|妇女联合会|"
                          r"工商联|工商业联合会|残联|残疾人联合会|总工会|工会|共青团|团委|团市委|团县委|红十字会"),
    ("hospital", r"医院|卫生院|中医院|妇幼保健院|社区卫生服务中心"),
    ("university", r"大学|学院|高等专科学校|高校"),
    ("media", r"融媒体|报社|日报社|广播电视台|电视台|传媒集团|新闻中心"),
    ("science_bureau", r"科学技术局|科技局|科技厅|科学技术委员会|科委|科学技术厅|科技和工业信息化局|科技创新局"),
    ("education", r"教育局|教育厅|教体局|教育和体育局|教育工委|教育委员会|教育工作委员会|教育工作党委|中学|小学|学校|幼儿园|"
                  r"[一二三四五六七八九十]中$|高中$|附中$|职中$"),  # "安庆一中党委": its core "安庆一中"
    ("health", r"卫生健康|卫健|卫生局|医疗保障|医保局|疾病预防控制|疾控"),
    ("finance_bureau", r"财政局|财政厅"),
    ("audit", r"审计局|审计厅|审计署"),
    ("state_firm", r"集团|公司|有限责任|股份"),
    ("local_government", r"管委会|管理委员会|商务区|开发区|高新区|园区|新区|经济技术开发|街道|党工委"),
    ("line_bureau", r"局|厅|部|委员会|办公室|中心|署|管理处|管理站|发展和改革|发改委"),
    ("local_government", r"县委|区委|市委|州委|旗委|镇|乡|人民政府|村|社区"),
)
_COMPILED = tuple((kind, re.compile(pattern)) for kind, pattern in _RULES)

ISSUER_KINDS: tuple[str, ...] = (
    "science_bureau", "education", "university", "health", "hospital", "finance_bureau", "audit",
    "propaganda_united_front", "mass_organisation", "line_bureau", "local_government", "state_firm", "media",
    "other",
)

ISSUER_KIND_NAMES_ZH: dict[str, str] = {
    "science_bureau": "科技部门", "education": "教育部门与中小学", "university": "高校", "health": "卫生健康与医保",
    "hospital": "医院", "finance_bureau": "财政部门", "audit": "审计部门", "propaganda_united_front": "宣传统战网信",
    "mass_organisation": "群团组织(科协、文联、妇联等)", "line_bureau": "其他政府部门",
    "local_government": "县区乡镇街道党委政府", "state_firm": "国有企业", "media": "融媒体与报社", "other": "其他",
}

# Party-group wrappers that say nothing about the kind of body ("中共…党组", "…委员会" of a bureau).
_WRAPPER = re.compile(r"^中共|^中国共产党|(党组|党委|党总支|党支部|机关党委|党组织|领导班子|(?<!管理)委员会)$")


@lru_cache(maxsize=4096)
def issuer_kind(issuer: str | None) -> str:
    """The kind of an issuer from its name (either script); ``other`` when nothing matches or unknown."""
    if not issuer or not isinstance(issuer, str):
        return "other"
    from classify.notices.reading import to_simplified

    name = to_simplified(issuer).strip()
    # "中共某县教育局党组" -> "某县教育局"; a county's own "中共某县委员会" keeps "县委员会" -> local.
    core = name
    for _ in range(2):
        stripped = _WRAPPER.sub("", core)
        if not stripped or stripped == core:
            break
        core = stripped
    for kind, pattern in _COMPILED[:5]:  # bodies named by a distinctive word (宣传部, 共青团, 医院 …)
        if pattern.search(name):
            return kind
    if re.search(r"[县区市州旗]委员会$", name) or re.search(r"[县区市州旗]委$", core):
        return "local_government"
    for kind, pattern in _COMPILED:
        if pattern.search(core):
            return kind
    # The full name where the core says nothing: "中共长宁区教育工作委员会" (core "长宁区教育工作") is education.
    for kind, pattern in _COMPILED:
        if pattern.search(name):
            return kind
    if re.search(r"[市县区州旗盟]$", core):  # a territory inspected as a whole ("对郑州市进行了巡视"): its Party committee
        return "local_government"
    return "other"
