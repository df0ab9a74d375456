"""The page's words in Chinese (default) and English, as GLOSSARY.md uses them."""

from __future__ import annotations

from collections.abc import Callable

from retention.records.labels import BAND_LABELS, OUTCOME_LABELS

TEXTS: dict[str, tuple[str, str]] = {
    "title": ("大客户流失预警", "Key-account retention"),
    "list": ("风险名单", "Risk list"),
    "exit_tab": ("正在办理销户/减容", "In exit process"),
    "assessment": ("考核", "Assessment"),
    "model": ("模型", "Model"),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出", "Sign out"),
    "username": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "bad_login": ("用户名或密码错误", "Wrong user name or password"),
    "too_many_logins": (
        "登录失败次数过多，请 {minutes} 分钟后再试",
        "Too many failed sign-ins: try again in {minutes} minutes",
    ),
    "high_risk": ("高风险客户", "High-risk accounts"),
    "coverage": ("跟进覆盖率", "Coverage"),
    "on_time": ("按时联系率", "On-time contact rate"),
    # the KPI (as GET /v1/kpis): high-risk accounts not contacted by their first action's due
    # date; the follow-up records behind them are listed apart
    "overdue": ("已超期", "Overdue"),
    "overdue_follow_ups": ("已超期的跟进记录", "Overdue follow-ups"),
    "money_at_risk": ("风险电费", "Money at risk"),
    "rank": ("排名", "Rank"),
    "customer": ("户号 / 户名", "Customer"),
    "industry": ("行业", "Industry"),
    "region": ("供电单位", "Supplying unit"),
    "manager": ("客户经理", "Account manager"),
    "probability": ("流失概率", "Churn probability"),
    "band": ("风险等级", "Risk band"),
    "top_reason": ("主要风险因素", "Top reason"),
    "reasons": ("主要风险因素", "Reasons"),
    "next_action": ("建议措施", "Next action"),
    "actions": ("建议措施", "Recommended actions"),
    "owner": ("责任人", "Owner"),
    "due": ("完成时限", "Due date"),
    "search": ("户号或户名", "Id or name"),
    "filter": ("筛选", "Filter"),
    "all": ("全部", "All"),
    "export": ("导出 Excel", "Export to Excel"),
    "mine": ("我的客户", "My accounts"),
    "sort": ("排序", "Sort"),
    "sort_rank": ("按风险电费", "By money at risk"),
    "sort_probability": ("按流失概率", "By probability"),
    "prev": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "page": ("第 {page} / {pages} 页，共 {count} 户", "Page {page} of {pages}, {count} accounts"),
    "no_batch": (
        "还没有评分结果：请先运行 retention score",
        "No scored list yet: run retention score",
    ),
    "follow_ups": ("跟进记录", "Follow-ups"),
    "log_follow_up": ("记录跟进", "Log a follow-up"),
    "action": ("措施", "Action"),
    "outcome": ("结果", "Outcome"),
    "contacted_at": ("联系时间", "Contacted at"),
    "note": ("备注", "Note"),
    "logged_by": ("记录人", "Logged by"),
    "changes": ("修改记录", "History"),
    "logged_entry": ("记录", "logged"),
    "api_key": ("API 密钥", "API key"),
    "crm_system": ("CRM 系统", "CRM system"),
    "save": ("保存", "Save"),
    "history": ("历次评分", "Risk over past batches"),
    "usage": ("用电量：近 24 个月与上年同期", "Consumption: 24 months against the year before"),
    "snapshot": ("评估日期", "Snapshot date"),
    "expected_revenue": ("预计年电费", "Expected 12-month revenue"),
    "capacity": ("合同容量", "Contract capacity"),
    "none_yet": ("暂无", "None yet"),
    "by_manager": ("按客户经理", "By account manager"),
    "by_region": ("按供电单位", "By supplying unit"),
    "followed": ("已跟进", "Followed up"),
    "model_version": ("模型版本", "Model version"),
    "trained_at": ("训练时间", "Trained at"),
    "metric": ("指标", "Metric"),
    "drift_report": ("数据漂移报告", "Drift report"),
    "realised_report": ("实际流失对比报告", "Realised churn report"),
    "monitoring": ("模型监测", "Monitoring"),
    "monitored_at": ("监测时间", "Monitored at"),
    "batch": ("批次", "Batch"),
    "retrain": ("建议重新训练", "Retraining recommended"),
    "healthy": ("模型状态正常", "The model is healthy"),
    "reference": ("训练参照", "Training reference"),
    "rows": ("行", "rows"),
    "drifted_features": ("漂移特征", "Drifted features"),
    "score_psi": ("流失概率分布 PSI", "Churn probability PSI"),
    "feature": ("特征", "Feature"),
    "realised": ("实际流失与预测对比", "Realised churn against predicted"),
    "not_matured": (
        "观察期未满，{day} 后可评估",
        "The horizon has not passed: labels mature on {day}",
    ),
    "accounts": ("户数", "Accounts"),
    "segments": ("分群漂移", "Drift by segment"),
    "no_data": ("无数据", "no data"),
    "not_in_dataset": ("数据中缺少本批 {n} 户", "{n} of the batch's accounts not in the data"),
    "over_time": ("历次监测（预测与实际流失率）", "Over time: predicted and realised churn"),
    "segment": ("分群", "Segment"),
    "tariff_category": ("电价类别", "Tariff category"),
    "industry_code": ("行业", "Industry"),
    "segments_note": (
        "仅供参考：行业有景气周期，模型以同行业对比为主，分群漂移不单独触发重新训练。",
        "For information: industries have business cycles and the model compares accounts "
        "with their industry's peers, so drift within a segment alone does not call for "
        "retraining.",
    ),
    "churned_accounts": ("实际流失户数", "Churned"),
    "predicted_rate": ("预测流失率", "Predicted rate"),
    "realised_rate": ("实际流失率", "Realised rate"),
    **BAND_LABELS,
    **OUTCOME_LABELS,
    "zero_churn": ("零流失", "zero churn"),
}


def translator(lang: str) -> Callable[..., str]:
    """t(key, **values): the text in the page's language."""
    index = 0 if lang == "zh" else 1

    def t(key: str, **values: object) -> str:
        pair = TEXTS.get(key)
        text = key if pair is None else pair[index]
        return text.format(**values) if values else text

    return t
