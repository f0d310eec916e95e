"""The codebook's decided cases as labelled anchors (../shared/codebook.md, "Hard cases, decided").

Models can add these to their training rows: they state, for issuers no training notice comes
from, where the codebook draws each boundary. The category descriptions are kept as short
topic lists, one anchor per category.
"""

from __future__ import annotations

HARD_CASES: tuple[tuple[str, str], ...] = (
    ("对受处分干部实行“三对一”跟踪回访帮教", "political_study"),
    ("将出纳、会计等岗位人员纳入出国(境)登记备案", "personnel"),
    ("梳理被取消高企资格企业清单,跟踪追缴财政奖补资金", "finance"),
    ("打造科技信贷产品“穗科贷”,推动投贷联动", "tech_policy"),
    ("实施个税补贴政策,降低境外人才税负", "tech_policy"),
    ("制定党外知识分子工作指引", "ideology"),
    ("开展网络安全应急演练,信创培训", "ideology"),
    ("成立以局主要领导为组长的安全生产工作领导小组,赴园区检查", "tech_policy"),
    ("对30万元以上项目招投标,10万元以上比价", "finance"),
    ("严格执行一把手“末位表态”制度,规范党组会议记录", "political_study"),
    ("启用OA系统规范文件签发", "tech_policy"),
    ("加大对资金管理中有令不行行为的责任追究,严肃处理违反经费使用规范者", "political_study"),
    ("班子成员赴企业调研,形成调研报告5篇", "political_study"),
    ("制定科技计划监督工作方案,开展高企复核与重点监督检查", "finance"),
    ("修订科研仪器开放共享资助申报指南,完善审核标准", "tech_policy"),
    ("局领导带队对局机关和直属单位开展安全检查", "tech_policy"),
    ("宣传部组织宣讲团面向基层群众开展党的二十大精神宣讲", "ideology"),
    ("统战部推荐党外干部到政府部门挂职", "ideology"),
    ("成立审计整改工作领导小组,制定审计发现问题整改方案", "finance"),
    # the examples of decision rule 1
    ("学习《党政领导干部选拔任用工作条例》,严格执行动议、推荐、考察程序", "personnel"),
    ("学习政府采购规定,制定采购内控制度", "finance"),
    ("传达学习习近平总书记关于意识形态工作的重要论述,研究部署意识形态工作", "ideology"),
)

CATEGORY_TOPICS: dict[str, str] = {
    "political_study": "落实第一议题制度,理论学习中心组学习,主题教育,三会一课,主题党日,讲党课,民主生活会,组织生活会,"
                       "批评与自我批评,支部建设,发展党员,全面从严治党主体责任,党风廉政建设,警示教育,八项规定精神,"
                       "作风建设,民主集中制,三重一大决策程序,成立巡察整改领导小组,建立整改台账",
    "ideology": "落实意识形态工作责任制,开展意识形态研判,舆情预警处置,网站和公众号信息发布审核,论坛讲座报告会审批报备,"
                "统战工作和党外人士工作,保密和定密管理,网络安全和信创",
    "finance": "严肃财经纪律,规范报销,预算执行,政府采购,招投标,支出合同,国有资产和固定资产管理,公务用车,公务接待,"
               "审计整改,经济责任审计,专项资金和补助资金监管,资金拨付程序,追缴追回补助资金",
    "personnel": "干部选拔任用的动议推荐考察和任职谈话,干部档案审核,干部配备,年轻干部培养,公开招录,机构编制,"
                 "内设机构职能,混岗,出国(境)证照管理,年休假",
    "tech_policy": "本单位面向社会的业务工作:政策和规划,项目和服务,为企业和群众办实事,行业监管和安全生产,人才引进计划,"
                   "科技创新、教育、卫生健康、交通等主责主业",
}


def anchor_records() -> list[dict]:
    """The hard cases and one topic list per category, as records with ``text`` and ``label``."""
    rows = [{"text": text, "label": label} for text, label in HARD_CASES]
    rows += [{"text": text, "label": label} for label, text in CATEGORY_TOPICS.items()]
    return rows
