"""Customer-facing phrases shared by several actions (one place for the wording)."""

BIND_INVITATION = (
    "为了保护您的资金安全，查询账户信息前需要先验证身份、绑定账户。"
    "请回复“绑定账户”，按提示输入预留手机号、身份证后六位和短信验证码即可，整个过程大约一分钟。"
)
SYSTEM_BUSY = "抱歉，系统暂时有点忙，请稍后再试；着急的话也可以回复“人工”联系客户经理。"

BIND_BUTTON = {"title": "绑定账户", "payload": "/bind_account"}
HUMAN_BUTTON = {"title": "转人工客服", "payload": "/request_human"}
MORE_BUTTON = {"title": "更多", "payload": "/show_more"}

BIND_SENT = (
    "如果您填写的手机号和身份证信息与我行预留信息一致，验证码短信已经发出，5分钟内有效。"
    "请回复收到的6位验证码。"
)
BIND_SUCCESS = "{salutation}，绑定成功！以后您可以直接问我余额、明细、贷款、定期这些账户问题了。"
BIND_LOCKED = "验证码输错次数较多，为了您的账户安全，绑定功能已暂停30分钟，请稍后再试。如需帮助可回复“人工”。"
BIND_EXPIRED = "验证码已过期（有效期5分钟）。请回复“绑定账户”重新获取验证码。"
BIND_WRONG_CODE = "验证码不正确，请核对短信后重新输入。连续输错5次将暂停绑定30分钟。"
BIND_ALREADY = "您已经完成账户绑定，可以直接查询余额、明细等业务。"
FORM_CANCELLED = "好的，已为您取消，没有办理任何业务。还有什么可以帮您的吗？"
NOTHING_TO_CANCEL = "好的。还有什么需要帮忙的，随时跟我说。"
FALLBACK_HUMAN = "抱歉，小农还是没能理解您的意思。需要的话我可以为您转接人工客服。"
