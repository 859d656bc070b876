"""Customer-facing phrases shared by several actions (one place for the wording)."""

BIND_INVITATION = (
    "为了保护您的资金安全，查询账户信息前需要先验证身份、绑定账户。"
    "请回复“绑定账户”，按提示输入预留手机号、身份证后六位和短信验证码即可，整个过程大约一分钟。"
)
SYSTEM_BUSY = "抱歉，系统暂时有点忙，请稍后再试；着急的话也可以回复“人工”联系客户经理。"
