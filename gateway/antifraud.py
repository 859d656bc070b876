"""反诈: recognise a customer describing a scam in progress, in any dialogue state.

A customer being scammed right now must be warned at once, whatever the conversation is doing (a
form, the queue, an RM serving). The NLU model cannot be trusted with this alone: scam stories are
long, colloquial and mix several intents (转账, 贷款, 客服). So the gateway reads every inbound text
with these rules first.

How the rules are built: ``EVIDENCE`` is a table of named groups of words, each one kind of
evidence: who the other side is or claims to be (police, bank_claim, gov, service, kin, stranger_strict),
the pretext (accused, bank_pretext, refund, win, invest_bait), the demand (pay_demand, prepay,
cred_give, told_app, screen), the pressure or doubt (pressure, suspicion), and what already happened
(vanished, withdraw_stuck). ``SCHEMES`` lists, per scheme of 国家反诈中心's list, a few rules, each a
set of groups that must ALL be found; every rule joins at least two kinds of evidence, so that
"帮俺给儿子转500块钱" or "验证码收不到" stay quiet while "公安局的人说俺涉嫌洗钱" is a scam. Words an
honest customer also uses (年化, 共享, 手续费, 链接) only count when somebody else in the story is
asking (third, third_or_told), and a scheme may be silenced by evidence that the bank itself is meant
(``unless``: 你们的贷款要交手续费吗). The last scheme, "other", catches scams that fit no named type:
an unknown party asking for money, a secret or an app; fees demanded up front; paid, then they vanished.

Typos and homophones customers type (验正码, 转帐, 公按局, 某音) and traditional script are normalised
first. Questions about fraud in general (怎么防诈骗, 反诈讲座, 如果有人问我要验证码) are not a scam in
progress unless money has gone. ``money_left`` reads the customer's own transfer (已经转了三万, 钱都充
进去了提不出来, 卡里少了), not the other side's claim (对方说钱已经付了).

The cases are ``tests/gateway/antifraud_cases.tsv`` and the larger development set
``tests/gateway/antifraud_more.tsv``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.chinese import to_simplified


@dataclass(frozen=True)
class FraudAlert:
    scheme: str  # machine code, e.g. "police_safe_account"
    label: str  # how the warning names it, e.g. "冒充公检法"
    money_left: bool  # the customer says money has already gone: urgent, stop payment now


def _any(*words: str) -> str:
    return "(?:" + "|".join(words) + ")"


def _w(words: str) -> str:
    """A group of alternatives written as one space-separated string (regex fragments allowed)."""
    return _any(*words.split())


# --- normalisation --------------------------------------------------------------------------------

# Homophones and slips of voice input and pinyin keyboards, and traditional forms OpenCC keeps.
_TYPOS: tuple[tuple[str, str], ...] = (
    ("帐", "账"),
    ("萤幕", "屏幕"),
    ("荧幕", "屏幕"),
    ("验正码", "验证码"),
    ("验证吗", "验证码"),
    ("验证玛", "验证码"),
    ("严证码", "验证码"),
    ("校验吗", "校验码"),
    ("公按", "公安"),
    ("公an", "公安"),
    ("警查", "警察"),
    ("派处所", "派出所"),
    ("捡察", "检察"),
    ("检查院", "检察院"),
    ("代款", "贷款"),
    ("货款平台", "贷款平台"),
    ("征性", "征信"),
    ("争信", "征信"),
    ("保正金", "保证金"),
    ("手序费", "手续费"),
    ("刷但", "刷单"),
    ("返力", "返利"),
    ("骗纸", "骗子"),
    ("骗几", "骗子"),
    ("支负宝", "支付宝"),
    ("淘保", "淘宝"),
    ("京冬", "京东"),
    ("屏目", "屏幕"),
    ("共想屏幕", "共享屏幕"),
    ("洗线", "洗钱"),
    ("冻洁", "冻结"),
    ("解东", "解冻"),
    ("客付", "客服"),
    ("理陪", "理赔"),
    ("二唯码", "二维码"),
    ("链结", "链接"),
    ("连接", "链接"),
    ("拼夕夕", "拼多多"),
    ("拼xx", "拼多多"),
    ("某宝", "淘宝"),
    ("某音", "抖音"),
    ("某东", "京东"),
)
_SEPARATORS = re.compile(r"[\s，。,.!！?？、~～…:：;；\"'“”‘’（）()【】\[\]《》<>\-—_/|]+")


def normalise(text: str) -> str:
    t = _SEPARATORS.sub("", to_simplified(text)).lower()
    for wrong, right in _TYPOS:
        if wrong in t:
            t = t.replace(wrong, right)
    return t


# --- evidence groups --------------------------------------------------------------------------------

_NUM = "[0-9一二三四五六七八九十两几百千万多]"
# Someone else tells the customer to do something: the shape of every demand.
_TOLD = _w(
    "(按|照|按照).{0,4}说的 让 叫 要求 逼 非要 按他说的 照他说的 按照他 要我(?!们|的) 要俺 要你 要咱 要家长 "
    "要他 要她 需要先 得先 必须 先要"
)

# somebody else in the story: a caller, a message, a contact online, reported speech (not 医院让, 房东让)
_THIRD = _w(
    "拉我 拉俺 拉他 拉她 推荐我 招聘 网站上说 这个人 说.{0,2}(交|付|转|打|先|要|得) 卖家 商家 买家 陌生 有人 "
    "有个 一个人 一个男的 一个女的 对方 对面 那人 那个人 他说 她说 他们说 人家说 自称 说是 称是 电话 短信 "
    "群里 博主 老师 客服 广告 中介 认识 业务员 工作人员 说我 说俺 说要 说得 说先 说需要 说必须"
)

# Fees scammers ask for before anything happens (not 学费, 物业费, 房租, 首付: real bills are paid first too)
_SCAM_FEES = _w(
    "手续费 服务费 保证金 押金 解冻 激活 公证费 关系费 打点费 认证费 会员费 工本费 材料费 律师费 风险金 税 "
    "清关费 关税 运输费 验资 培训费 服装费 工作服 体检费 入职费 担保费 担保金"
)

EVIDENCE: dict[str, str] = {
    # who the caller claims to be
    "police": _w(
        "国家安全 安全局 国安局 最高检 最高法 高检 高法 公安部 经侦 制服 公安 警察 民警 警官 派出所 检察 法院 "
        "公检法 刑警 刑侦 国安 网警 反诈中心 警方 警服 办案 专案组 监察"
    ),
    "accused": _w(
        "泄露 国家秘密 保密协议 赃款 冻结令 来路不明 归集 接受检查 贩毒 取保候审 洗钱 涉嫌 涉案 通缉 逮捕 "
        "拘留 (?<!无)犯罪 配合调查 资金核查 资金清查 资金审查 保密 传唤 黑钱 嫌疑 非法 违禁品 清白 卷入 卷进 "
        "抓你 抓我 抓俺 就抓 冒用 盗用 骗保 审查 违法 协查 通报 说明情况 隔离"
    ),
    "safe_account": _w(
        "过渡账户 验证账户 备用账户 保护账户 保险账户 安全账户 清查账户 监管账户 审查账户 国家账户 国库 "
        "中央的账户 核查账户 资金清查 资金核查 资金审查 清查资金 核查资金 审查资金 资金.{0,4}(清查|核查|审查) "
        "钱是干净的"
    ),
    "strong_accused": _w("赃款 泄露国家秘密 贩毒 取保候审 来路不明 洗钱 通缉 逮捕令 涉嫌(?!违规) 黑钱 涉案 拘留"),
    "gov": _w(
        "计生 独生子女 奖励金 新农保 农保 新农合 合作医疗 社保 医保 etc 补贴 助学金 退税 人社 税务局 教育局 "
        "养老金资格 资格认证 残疾人 高龄 惠民 失业金 公积金 低保 养老认证 直补 补助 粮补 惠农 民政 低保金 "
        "社保待遇"
    ),
    "gov_trouble": _w(
        "多领 退回 失信 取消 恢复 断缴 补缴 可以退 多交 到期 不续 异常 冻结 失效 停用 过期 认证 年检 升级 "
        "盗刷 冒用 出问题 有问题 注销 可以领 能领 领取 发放 要发 发补贴 领钱 退给 作废 换卡 新卡 暂停 核验 "
        "登记 待领"
    ),
    "bank": _w("银行(?!卡) 农商行 信用社 信用卡 银联 客户经理"),
    "bank_pretext": _w(
        "逾期 欠款 催收 利息可以退 退利息 挂失 外地消费 额度 换成卡 换新卡 存折 利息更高 利率更高 到期 管理费 "
        "长期不用 过桥 还清 结清 转贷 升级 积分 提额 额度提高 提高额度 降息 低息 利率 年审 消磁 换卡 磁条 "
        "开卡费 激活费 办信用卡 大额信用卡 信用卡通过 被锁 年费 临时账户 上调 境外消费 异常消费 盗刷 风险 "
        "作废"
    ),
    "credit": _w("逾期 信用报告 征信中心 征信 信用记录 不良记录 黑名单 逾期记录 白户 铲单 一笔勾销 勾销 债务优化 停催"),
    "credit_fix": _w(
        "变好看 变好 有办法 优化 变正常 处理征信 处理逾期 删了 找关系 恢复 污点 修复 消除 洗白 删掉 删除 修改 "
        "清除 撤掉 撤销 铲除 抹掉 消掉 影响子女 影响孩子 影响娃 铲单 勾销 服务费 收费"
    ),
    "service": _w(
        "客服 快递 淘宝 京东 拼多多 抖音 快手 航空 机票 航班 商家 支付宝 微信支付 中通 圆通 申通 韵达 顺丰 "
        "邮政 学信网 网购 订单 包裹 买的"
    ),
    "refund": _w(
        "补偿 退款 理赔 赔偿 退货 退钱 赔钱 赔我 改签 订单异常 订单有问题 质量问题 丢件 丢了 取消会员 扣费 "
        "扣钱 扣我 退我 赔付 退票 要扣 自动扣 月扣"
    ),
    "refund_act": _w(
        "开个 领取 扫 转账 验证码 屏幕共享 共享屏幕 备用金 借呗 微粒贷 花呗 白条 贷款 网贷 下载 下个 会议 "
        "扫码 二维码 银行卡号 卡号 银行卡信息 操作 打开 开通 链接 转钱 转到 走流水 流水 清零 加他 加我 加个 "
        "qq atm 柜员机 照他说的 按他说的 按照他 指引 加了微信 加微信 借一笔 借钱 app"
    ),
    "cancel": _w("退订 注销 关闭 消除 关掉 取消 删掉 清理"),
    "cancel_what": _w(
        "保险 保障 服务 订阅 校园贷 学生贷 网贷 京东金条 金条 白条 百万保障 百万医疗 保障服务 金融服务 会员 "
        "贷款记录 贷款账户 花呗 借呗 直播会员"
    ),
    "cancel_push": _w("扣 征信 影响 不然 否则 扣费 扣钱 扣我 转 借 贷 清零 额度"),
    "loan": _w("贷款 放款 借款 下款 借钱 网贷 额度 贷 审批通过 审核通过 不看征信 秒批 无抵押 秒到账") + "|借" + _NUM,
    # a fee no lender asks for before lending: scam evidence even in a question (贷款保证金是什么意思)
    "loan_fee": _w(
        "激活金 需要激活 保证金 解冻 验资 刷流水 做流水 做个流水 包装流水 激活费 工本费 会员费 卡号填错 "
        "卡号错误 填错了 账户冻结 资金冻结 被冻结 包装费 保险费 刷信用分 信用分不够 流水不够 还款能力 打点费 "
        "认证费 风险金"
    ),
    # money before the loan, told by someone else
    "loan_fee_weak": _w(
        "服务费 手续费 先交 先转 先付 押金 交钱 转一笔 交一笔 (交|付|转|打)" + _NUM + "+(块|元|千|万|百)"
    ),
    # promises only a scam makes
    "invest_bait": _w(
        "赚.{0,2}倍 转手就能 (年化|年收益|一年).{0,4}百分之([二三四五六七八九]十|十[五六七八九]|[1-9][0-9]) "
        "带我赚 带你赚 带俺赚 股神 内部价 投.{0,8}(能分|能拿|能赚|能返|变成|翻) 名额不多 名额有限 一年变 "
        "一个月变 变成.{0,3}(十|百)万 什么币 叫.{0,4}币 "
        "(一个月|每月|每个月|每天|一天|每日|日|月).{0,4}(赚|收益|回报|返|利息).{0,3}百分之 庄家 拉升 稳赚 "
        "保本高收益 内幕 内部消息 带单 老师带 荐股 翻倍 稳赢 日收益 月收益 包赚 只赚不赔 躺赚 原始股 内部认购 "
        "认购名额 新股认购 矿机 挖矿 收币 保证收益 一天能赚 赚了很多 赚了不少 赚大钱 赚钱的门道 养老币 "
        "翻.{0,2}倍 爆仓 彩票计划 必中 漏洞"
    ),
    # investment words an honest customer also uses: only with someone else pushing, or money stuck
    "invest_weak": _w(
        "数字藏品 炒美股 炒港股 虚拟货币 新股 投资黄金 黄金投资 投.{0,8}返 推荐.{0,4}股票 区块链 每天返 "
        "天天返 投.{0,4}返 入股 导师 高回报 虚拟币 比特币 usdt 博彩 投资群 炒币 数字货币 外汇平台 外汇交易 "
        "期货 回本 分红 股票群 炒股群 老师讲 群里的老师 群里老师 晒收益 赚钱的截图 赚钱截图 讲课 教炒股 "
        "免费讲 炒黄金 炒外汇 炒期货 跟着.{0,6}老师 比银行高 一年给.{0,6}利息 赌场 下注 投注 赌博 网赌 百家乐"
    ),
    "invest_act": _w(
        "搞 想投 入股 交了 投(?!诉) 平台 群 投资 充值 理财 app 软件 入金 下载 链接 开户 投进去 投了 投点 充 "
        "买 跟着 打钱 转账 注册 追加 存 公司"
    ),
    "withdraw_stuck": _w("提不出来 提现不了 提不了现 取不出来 无法提现 不能提现 登不上"),
    "invest_place": _w("平台 软件 app 账户里 网站"),
    "romance": _w(
        "认识一个女孩 认识个女孩 认识一个女的 认识个女的 认识一个男的 认识个男的 叫我老婆 叫我老公 叫我宝贝 "
        "处了 跟我处 维和 妹儿 网恋 婚恋 交友 相亲 对象 男朋友 女朋友 网友 处对象 谈恋爱 谈了个 宝贝 结婚 "
        "小姐姐 红娘 婚介 喜欢我 妹子 美女 帅哥 陌陌 探探 soul"
    ),
    "romance_ask": _w(
        "买币 交易所 稳赚 运输费 美金 寄给我 投资 理财 博彩 彩票 投注 充钱 充值 充 平台 外汇 数字货币 虚拟币 "
        "赚钱 借 打钱 关税 包裹 出事 任务 下一个app 注册 下注 赌 进货"
    ),
    "elder_bait": _w(
        "老年大学 免费.{0,4}旅游 领.{0,3}养老金 保健酒 干妈 干爹 陪.{0,4}聊天 养老补贴 会员卡 "
        "(免费).{0,6}(量血压|体检|检查|理疗) 降压仪 治疗仪 按摩椅 床垫 保健品 健康讲座 讲座 以房养老 养老项目 "
        "养老院项目 养老公寓 养老基地 养老服务 特效药 神药 理疗仪 磁疗 免费发 发鸡蛋 健康馆 老年人旅游 专家 "
        "包吃包住 能治 养老.{0,2}(社区|公寓|基地|项目|院|机构|服务|产业) 床位 养生 量子 拉老人"
    ),
    "elder_demand": _w("万 千 投(?!诉) 会员费 预存 分红 利息 返 过户 翻一倍 翻倍 取钱 疗程 身份证和银行卡 治病 能治"),
    "orders": _w(
        "冲流量 刷流量 冲销量 冲单 点点就能 动动手指 在家.{0,4}(挣钱|赚钱) 打字员 接单 打字 刷单 刷信誉 "
        "冲信誉 刷好评 刷销量 做销量 做任务 点赞 关注 返利 返佣 兼职 试岗 手工活 手工兼职 日结 佣金 派单 做单 "
        "打分 好评 看视频 任务"
    ),
    "orders_pay": _w(
        "预付 会费 返 垫 充 本金 提现 押金 先付 先用自己 先交 先拍 自己的钱 升级 卡单 解冻 打过去 转到 交钱"
    ),
    "military_order": _w("订 采购 要买 供应商 订货"),
    "military_pay": _w("垫 先转 先交 押金 指定 厂家 买一批 帮他们买 帮我们买 联系"),
    "game": _w(
        "游戏交易 账号.{0,6}找回 (买|卖|收)(他|你|我)?的?(游戏)?(号|账号) 游戏.{0,4}(装备|账号|号|皮肤|币) "
        "装备 皮肤 代充 代练 上分 账号交易 卖号 买号 卖账号 买账号 收账号"
    ),
    "game_deal": _w(
        "不要走 不走.{0,6}交易 找回 不走.{0,4}平台 私下 不走平台 扫码 保证金 解冻 押金 先付 交钱 银行卡号 "
        "拉黑 扫 送 骗 第三方 担保 网站交易"
    ),
    "win": _w(
        "幸运观众 幸运 送我一台 免费送 中奖 中了 抽中 获奖 奖品 大奖 幸运用户 幸运粉丝 领奖 奖金 一等奖 "
        "二等奖 特等奖 刮奖 刮刮卡 兑奖 抽奖"
    ),
    "fee": _w(
        "(存|转|交|打).{0,6}(验证|激活) 快递费 只需付 只要付 (付|交).{0,6}费 手续费 保证金 税 交钱 先交 先付 "
        "邮费 运费 激活费 工本费 公证费 解冻费 会员费 服务费 押金 验资 刷流水 转点钱 打点钱 转钱 保险费 "
        "打一笔 交一千 交一笔 转个"
    ),
    "cheap_goods": _w(
        "低价 便宜 打五折 半价 特价 代购 微商 朋友圈有人卖 二手群 闲鱼 直播间 网站 网上订 网上买 网购 在网上买"
    ),
    "shop_private": _w(
        "押金 再交 才能发货 转账给他 转给他 打给他 定金 订金 先转 加他微信 加微信 不能走平台 不用平台 "
        "别走平台 个人的支付宝 个人账户 个人卡 私人账户 不走平台 私下 先付 先打定金 付定金 先把钱转 先付款 "
        "微信转 转他微信 鉴定费 检疫费 航空箱 海关 拉黑 转到他卡 先打 交税 打不通 联系不上 找不到"
    ),
    "kin": _w(
        "姑妈 姨妈 舅妈 婶 伯 领导 老板 校长 老师 班主任 亲戚 同学 朋友 儿子 女儿 孙子 孙女 外孙 侄子 侄女 "
        "外甥 老乡 战友 熟人 闺女 儿媳 女婿 老公 老婆 表哥 表姐 表弟 表妹 舅舅 姑姑 姨 叔 支书 局长 科长 处长 "
        "主任 经理 我姐 我哥 我弟 我妹 老张 老李 厂长 行长 所长 院长 董事长 老总 室友 舍友 发小 邻居 同事"
    ),
    # signs the caller is not who they say
    "impersonate": _w(
        "手机坏了 别人手机 别人的手机 不是他 不是她 自称 冒充 说是 假装 新微信 新号 换了号 换号 换了个号 加我 "
        "加了我 qq 陌生号 不方便接电话 声音 视频里 手机丢了 手机掉 猜猜我是谁 在开会 被盗 头像 家长群 收款码 "
        "以为是 是假的 本人吗"
    ),
    # a relative or boss in sudden trouble
    "kin_trouble": _w("出事了 出了车祸 被抓 被扣 住院 绑架 撕票 被警察 打伤 打架 别告诉 千万别 急用 急需 派出所 手术"),
    "kin_money": _w(
        "借钱 转钱 打钱 汇款 汇钱 转账 转点钱 借点钱 急用 打点钱 转过去 汇过去 保释金 医药费 手术费 交罚款 "
        "赔钱 赎人 关税 借他 借我 周转 急需 打一万 打了 转了 汇了 交资料费 资料费 预付款 先转 转一笔 打二十万 "
        "打过去 帮她转 帮他转 律师"
    )
    + "|(汇|转|打|借)"
    + _NUM
    + "+(块|元|万|千)",
    "code": _w(
        "短信内容 短信里的内容 收到的短信 付款码 验证码 动态码 校验码 短信码 六位数字 收到的码 收到的数字 "
        "发了个码 发了个验证 短信里的码 短信上的码 码报给 码告诉 码发给 码念给"
    ),
    "give": _w(
        "给了(他|她|对方|那) 交给(他|她|对方) 要我 问我要 索要 让我说 让我报 让我告诉 让俺 要俺 问俺要 叫我 "
        "叫俺 给他 给她 给对方 告诉他 告诉她 告诉对方 发给他 发给她 发给对方 报给 念给 读给 截图发 "
        "告诉了(他|她|对方|那)"
    ),
    "screen": _w(
        "远程软件 远程操作 后台帮 投屏给 屏幕共享 共享屏幕 屏幕分享 分享屏幕 远程控制 远程协助 腾讯会议 zoom "
        "向日葵 会议号 被他控制 屏幕在自己动"
    ),
    # the same with words a customer also uses about their own phone: only when someone else asks
    "screen_weak": _w(
        "远程处理 远程帮 远程 会议房间 进会议 进一个会议 投屏 开会议 视频会议 打开共享 开共享 开一个什么共享 "
        "开个共享 会议软件 会议的app 什么会议 共享"
    ),
    "cred": _w("卡号 密码 验证码 有效期 背面 三位数 身份证号 银行卡信息 cvv"),
    "give_cred": _w("报 读 填 输入 提供 告诉 给他 发给 报给 念给 要我的 要了"),
    "link": _w("网页 链接 网址 点进去 点开 点击 网站 点这个"),
    "sms": _w("短信 收到一条 收到个 收到一个 发来 条信息"),
    "link_bait": _w(
        "停用 补全 否则 过期 失效 积分 清零 兑换 兑现 冻结 异常 更新 违章 罚款 红包 领取 年检 验证身份 "
        "重新验证 地址有问题 快递"
    ),
    "qr": _w("二维码 扫码 扫他 扫一下 扫个码 扫他的码 收款码 扫了 扫.{0,6}码"),
    # the customer is to scan the other side's code (to "receive" money: it pays them)
    "qr_theirs": _w("扫(他|她|对方|买家|人家|一个|一下) (让|叫|要)(我|俺).{0,3}扫 发了个(二维)?码")
    + "|(他|她|对方)发的.{0,3}码|发.{0,4}码给我",
    "qr_trick": _w(
        "钱就过来 钱就到 转不了 激活 付不了 帮他 给(我|你|俺)转钱 转钱给(我|俺) 发现是付款 输.{0,6}密码 收款 "
        "收钱 到账 确认收货 收到钱 付给我 开通商家 礼品 填银行卡 保证金 才能到账"
    ),
    "buyer": _w(
        "定一批货 订货 要定 来店里 店里 摆摊 说买 要买 收粮 收.{0,2}的人 顾客 客人 买.{0,3}的人 买我 收我 "
        "买家 卖东西 卖二手 卖了 收废品 闲鱼 卖羊 卖猪 卖粮 网上卖 对方 路边 收购"
    ),
    "pressure": _w("不然 否则 保密 别告诉 不能告诉 不让告诉 千万别 马上 立刻 今天之内 不转 有麻烦 起诉 抓 不.{1,3}就"),
    "pay_demand": _TOLD
    + ".{0,14}?"
    + _any(
        "转", "汇", "打钱", "打到", "打过去", "打给", "打款", "打一", "打" + _NUM, "交", "付", "充", "存", "垫", "取出"
    ),
    "stranger": _w(
        "陌生人 不认识的人 陌生电话 一个电话 有人 有个人 对方 那人 那个人 有个电话 接到个电话 接了个电话 "
        "打电话说 电话说 电话里 自称 说是"
    ),
    "mule": _w(
        "上门.{0,6}(取|拿|收) 交给上门 (银行卡|卡|账户)卖给 "
        "(卖|出售)(掉)?(我的|你的|自己的|一张)?银行卡(?!里) 过一下账 过账 走一下账 帮他过 租我的 "
        "租(用)?(你|我|俺)?的?(银行卡|卡|微信号|账户) 收购银行卡 借给他用 借我的卡 收我的银行卡 收银行卡 走账 "
        "帮他收 收一笔钱再转 出租(我的)?(银行卡|卡|账户|微信) 办张银行卡 帮他办.{0,3}卡 借身份证 租卡 "
        "借用.{0,4}卡"
    ),
    "atm": _w("atm 柜员机 取款机 按他说的 照他说的 按步骤 按他的 他指引 按照他"),
    "paid_or_fee": _w("交 付 费 钱 转 花 给他") + "|" + _NUM + "+(块|元|千|万)",
    # someone claiming to be from a bank (not "说我银行卡...")
    "bank_claim": _w(
        "说是你们行 是你们行的 说是你们的 银联中心 开户行 信用卡中心 银行客服 某某银行 银行打 银行工作人员 "
        "(冒充|自称).{0,6}(银行|农商行|信用社|银联) 说(他|她)?是.{0,6}(银行(?!卡)|农商行|信用社|信用卡|银联) "
        "(银行|农商行|信用社)的(人|工作人员|客服|经理|员工)"
    ),
    "credit_card": _any("信用卡"),
    "card_fee": _w("开卡费 激活费 手续费 年费要 包装费 办卡费"),
    "credit_card_raise": _w("提额 额度提高 提高额度 提高信用卡 额度提到"),
    "student_loan": _w("校园贷 学生贷 (学校|上学|大学|学生).{0,8}(贷|网贷|借款)"),
    "cancel_or_credit": _w("注销 消除 关闭 删掉 征信 清零 不然 没关 关掉 清空"),
    "online": _w("网上 网站 软件 app 平台 网友 交友 网恋 婚恋 抖音 微信 群 国外 没见 聊 认识 介绍"),
    "brushing": _w("刷单 刷.{0,2}[0-9一二三四五六七八九十两几]单 刷信誉 冲信誉 刷好评 刷销量"),
    "paid": _w("转了 打了 交了 给了 转给他"),
    "gov_fee": _w("交一笔 交.{0,4}钱 手续费 保证金 工本费 激活费 先交 交钱 押金 服务费 存满"),
    "loanapp": _w("借款 借呗 微粒贷 备用金 花呗 白条 金条 放心借 走流水 刷流水"),
    "other_party": _w("陌生 有人 有个人 对方 那人 电话 自称 说是 说我 他说 客服") + "|" + _TOLD,
    "told": _TOLD + "|教我|指导|指引|按他说|照他说",
    "gamble": _w("赌场 下注 投注 赌博 网赌 博彩 彩票计划 百家乐"),
    "ours": _w("你们说 你们的 你们行 你们银行 你们这 在你们 你们网点 你们客服 你们app"),
    "military_or_police": _w("部队 武警 军队 军人 当兵的 军官 司务长 后勤 消防 军需 军用 派出所 公安 警察"),
    "kin_contact": _w(
        "打电话说 打来电话 电话里说 发消息 发短信 微信上说 微信给我发 qq上 发来 加我 加了我 打电话来 发微信 "
        "微信说 发信息"
    ),
    "third": _THIRD,
    "contact": _w("加.{0,2}qq 加.{0,2}微信 qq群 开通网银 下载 下个app 加他"),
    # paid, then the other side disappeared
    "vanished": _w("人全没了 人都没了 拉黑 联系不上 打不通 不接电话 人跑了 跑路 关机 人没了 找不到人 人不见了 删了我"),
    "paid_any": "(付|转|交|打|给|汇|充)(了|过去|出去|完)",
    # "I sent money to your card by mistake, send it back": 误转退款
    "misdirected": "(转错|不小心.{0,8}转|误转|打错|转多了).{0,16}(退|转回|还给|返还)",
    # an unknown party: not a relative, an employer or an institution the customer deals with
    "stranger_strict": _w(
        "有个.{0,4}的 有人 有个人 有个男的 有个女的 一个人 一个男的 一个女的 陌生 对方 那人 那个人 这个人 "
        "自称 说是 冒充 网友 网上认识 群里 电话里 打电话说 电话说 短信说 不认识"
    ),
    "told_secret": _TOLD + ".{0,10}(验证码|密码|卡号|身份证号|银行卡信息)|问(我|俺)要|索要",
    "told_app": _TOLD + ".{0,8}(下载|下个|装个|装一个|安装|点开|点链接|扫|app|软件|网站)",
    # a back door money opens: 内部渠道上重点中学, 找关系包过
    "inside_track": _w("内部渠道 内部名额 走关系 找关系 托关系 包过 保过 包录取 包进"),
    # tools that "see other people's accounts", "hack" a game or a bank: sold by scammers
    "hack_tool": _w("能看到别人 查别人的 黑进 破解 黑客 外挂 查.{0,4}余额的软件"),
    # any fee an unknown party asks for (with a known one, 物业费 or 学费 are ordinary bills)
    "any_fee_demand": "(要|让|叫|得|需要|必须|先)(我|俺|他|她)?(先|再)?(交|付|缴|转).{0,8}(费|税|(?<![定订])金)",
    # the customer already says the caller was not who they claimed
    "claimed": _w("冒充 假冒 假装是 自称 冒名"),
    "loan_clear": "先.{0,8}(还清|结清)|过桥",
    "prepay": "先(交|付|转|打|垫|缴|充|存)(?!定金|订金|首付).{0,6}(?:"
    + _SCAM_FEES
    + "|钱|运费|邮费)"
    + "|(前|之前)(要|得|需要)?(先)?(交|付|缴)",
    # a fee told: 要交五千块钱的关系费
    "fee_demand": "(要|得|需要|必须|让|叫)(我|俺)?(先|再)?(交|付|缴).{0,10}(?:"
    + _SCAM_FEES
    + "|一笔钱)|关系费|打点费|好处费",
    # money first, then what was promised: 交保证金才能收到钱, 交解冻费才能提现, 再交押金才能发货
    "pay_to_unlock": "(交|付|缴|转|存|充|打).{0,10}才(能|可以|给|会)",
    "cred_give": "(验证码|密码|卡号|身份证号|身份证和|银行卡号).{0,8}(给他|给她|告诉|发给|报给|念给|读给|登记)"
    "|(告诉|发给|报|读|念|给他|提供|填|输入|输上)(他|她|对方|一下)?.{0,6}(验证码|密码|卡号|身份证号)",
    "remote_app": _w("投屏 共享 会议 远程"),
    "download": "(下载|下个|装个|装一个|安装|下一个).{0,8}(软件|app|什么)",
    "third_or_told": _THIRD + "|" + _TOLD + "|要先|需先",
    "pay_or_cred": _w("转 汇 打钱 交 付 充 验证码 密码 卡号 操作 借"),
    "bait": _w(
        "翻倍 高收益 利息高 稳赚 免费 中奖 便宜 低价 赔偿 退款 补贴 遗产 好处费 返利 佣金 赚钱 高回报 日结 分红"
    ),
    "suspicion": _w(
        "是骗子不 正规吗 这正规 不大信 不太信 不敢信 越想越不对 不对劲 不太对 有点怀疑 心里没底 拿不准 骗子吧 "
        "是骗子 是诈骗 是不是骗 能信吗 能信不 靠谱吗 靠谱不 是真的吗 真的假的 正常吗 能做吗 能干吗 安全吗 "
        "可信吗"
    ),
}

# Scams told in general terms or asked about in advance: not a scam in progress.
_HYPOTHETICAL = re.compile(
    _w(
        "怎么防 如何防 防范 防骗 防诈 宣传 讲座讲 知识 如果有人 万一有人 假如有人 会不会打电话 会不会让 "
        "会问我要吗 会不会问 什么是 怎么分辨 怎么识别 怎么核实 讲讲 听说 电视上说 新闻上说 正规的不要 做培训 "
        "搞培训"
    )
)


@dataclass(frozen=True)
class Scheme:
    code: str
    label: str  # shown in the warning as 很像“label”类诈骗
    rules: tuple[tuple[str, ...], ...]  # evidence-group names; a rule fires when every one is found
    unless: tuple[str, ...] = ()  # evidence that the story is about something else (the bank's own fee)


# In order: the first scheme with a rule that fires names the warning, so the more specific come first.
SCHEMES: tuple[Scheme, ...] = (
    Scheme(
        "military_purchase",
        "冒充军警订货",
        (
            (
                "military_or_police",
                "military_order",
                "military_pay",
            ),
        ),
    ),
    Scheme("game_trade", "游戏账号装备交易", (("game", "game_deal"),)),
    Scheme(
        "impersonated_acquaintance",
        "冒充熟人、领导借钱",
        (
            ("kin", "impersonate", "kin_money"),
            ("kin", "kin_trouble", "kin_contact", "kin_money"),
            ("kin", "kin_contact", "pay_demand"),
        ),
    ),
    Scheme(
        "fake_bank_staff",
        "冒充银行工作人员",
        (
            ("bank_claim", "bank_pretext", "cred"),
            ("bank_claim", "bank_pretext", "pay_demand"),
            ("bank_claim", "bank_pretext", "atm"),
            ("bank_claim", "bank_pretext", "remote_app"),
            ("bank_claim", "bank_pretext", "download"),
            ("bank_claim", "bank_pretext", "prepay"),
            ("bank_claim", "bank_pretext", "code"),
            ("bank_claim", "bank_pretext", "link"),
            ("bank_claim", "bank_pretext", "qr"),
            ("bank_claim", "loan_clear"),
            ("bank_claim", "safe_account"),
            ("bank_claim", "bank_pretext", "paid"),
            ("bank_claim", "bank_pretext", "pressure"),
            ("bank", "bank_pretext", "cred", "give_cred"),
            ("credit_card", "card_fee", "third"),
            ("credit_card_raise", "cred", "third_or_told"),
        ),
    ),
    Scheme(
        "police_safe_account",
        "冒充公检法、要求转到‘安全账户’",
        (
            ("safe_account",),
            ("police", "accused"),
            ("police", "pay_demand"),
            ("strong_accused", "pay_demand"),
            ("strong_accused", "third"),
        ),
    ),
    Scheme(
        "fake_gov_service",
        "冒充社保医保、发补贴退税",
        (
            ("gov", "gov_trouble", "cred", "give_cred"),
            ("gov", "link", "third"),
            ("gov", "screen"),
            ("gov", "remote_app", "cred"),
            ("gov", "gov_trouble", "pay_demand"),
            ("gov", "gov_fee", "third_or_told"),
            ("gov", "atm", "third_or_told"),
            ("gov", "gov_trouble", "contact"),
            ("gov", "gov_trouble", "police"),
        ),
    ),
    Scheme(
        "fake_service_refund",
        "冒充客服退款、注销网贷",
        (
            ("service", "refund", "refund_act"),
            ("service", "loanapp", "told"),
            ("cancel", "cancel_what", "cancel_push", "other_party"),
            ("student_loan", "cancel_or_credit", "other_party"),
        ),
    ),
    Scheme(
        "credit_repair",
        "征信修复、消除不良记录",
        (
            ("credit", "credit_fix", "paid_or_fee", "third"),
            ("credit", "credit_fix", "prepay"),
            ("credit", "credit_fix", "third"),
            ("credit", "pay_demand", "stranger"),
        ),
    ),
    Scheme("romance", "网络交友诱导投资、赌博", (("romance", "romance_ask", "online"), ("romance", "gamble"))),
    Scheme("fake_orders", "刷单返利", (("brushing",), ("orders", "orders_pay", "third_or_told"))),
    Scheme(
        "loan_fee",
        "贷款先交保证金",
        (("loan", "loan_fee"), ("loan", "loan_fee_weak", "third"), ("loan", "loan_fee_weak", "suspicion")),
        unless=("ours",),
    ),
    Scheme("elderly_care", "养老投资、高价保健品", (("elder_bait", "elder_demand"),), unless=("ours",)),
    Scheme(
        "investment_platform",
        "虚假投资理财",
        (
            ("invest_bait", "invest_act"),
            ("invest_weak", "invest_act", "third_or_told"),
            ("invest_weak", "withdraw_stuck"),
            ("withdraw_stuck", "invest_place"),
        ),
        unless=("ours",),
    ),
    Scheme("qr_code_payment", "扫码‘收款’", (("qr", "qr_theirs", "qr_trick", "buyer"),)),
    Scheme("prize_fee", "‘中奖’先交费", (("win", "fee", "third"), ("win", "fee", "told"), ("win", "prepay"))),
    Scheme("fake_shopping", "虚假网购", (("cheap_goods", "shop_private", "third_or_told"),)),
    Scheme("phishing_link", "短信钓鱼链接", (("link", "cred", "give_cred"), ("sms", "link", "link_bait"))),
    Scheme("code_or_screen", "索要验证码、屏幕共享", (("code", "give"), ("screen",), ("screen_weak", "third_or_told"))),
    Scheme(
        "other",
        "诈骗",
        (
            ("mule",),
            ("third", "prepay"),
            ("third", "misdirected"),
            ("third", "inside_track", "paid_or_fee"),
            ("stranger_strict", "hack_tool"),
            ("stranger_strict", "any_fee_demand"),
            ("claimed", "pay_or_cred"),
            ("third", "fee_demand"),
            ("third", "pay_to_unlock"),
            ("third", "cred_give"),
            ("third", "remote_app", "pay_or_cred"),
            ("third_or_told", "download", "pay_or_cred"),
            ("third_or_told", "download", "suspicion"),
            ("stranger_strict", "pay_demand"),
            ("stranger_strict", "told_secret"),
            ("stranger_strict", "told_app"),
            ("third", "pay_demand", "pressure"),
            ("third", "pay_demand", "suspicion"),
            ("third", "pay_demand", "bait"),
            ("suspicion", "third", "gone"),
            ("vanished", "paid_any"),
        ),
        unless=("ours",),
    ),
)


_MONEY_LEFT = re.compile(
    _any(
        r"(已经|早就|先后)(把.{0,10})?(转|汇|打|付|交|充|投|借)(了|过去|进去|出去|给|到)",
        r"(刚|刚才|刚刚|都|昨天|前天|全|全部)(把.{0,10})?(转|汇|打|付|交|充|投|借)(了|过去了|进去了|出去了|给.{0,6}了|到.{0,12}了)",
        rf"(转|汇|打|付|交|充|投|给|借|刷|扣|骗|花|买|垫|进)了.{{0,6}}?{_NUM}+(块|元|万|千|百|次钱|笔)",
        rf"(转|汇|打|付|交|充|投|垫)(过去|进去|出去|回去)(了|{_NUM}+(块|元|万|千))",
        r"(转|汇|打|付|交|充|投|给|借|垫)了.{0,6}?[0-9]{3,}",
        r"扣款短信|扣款了|被扣款|划走|被划|扣走|钱.{0,2}被?冻结了|垫了" + _NUM,
        r"就(转|汇|打|交|付|充)了(?!吗)",
        r"(转|汇|打|交|充|投)(过去|进去|出去).{0,6}了",
        r"转帐了|转账了",
        r"被骗了|上当了|被骗走|被骗去|骗了我|被骗的钱|骗了的钱|骗走的钱",
        r"钱(没了|不见了|被转走|被骗|被刷|要不回来|追回|都交了|全打|打水漂|一分没|都给|全给|已经被|都没了)",
        r"(卡里|卡上|账户里|存折里|余额).{0,12}(少了|不见了|没了|被扣|被刷|被转)",
        r"钱.{0,2}少了|少了" + _NUM + "+(块|元|万|千|百)",
        r"被(扣|刷|转走|盗刷)了",
        r"已转账|已经转账|已经汇款",
        r"扫码(交|付|转|打)了",
        r"(转|汇|打|给)给?(他|她|对方|人家|骗子)了",
        r"(我|俺|她|他)(已经|都|就)?(转|汇|打|交|付|充)了",
        r"提不出来|提现不了|提不了现|取不出来了",
        r"拉黑|联系不上|找不到了|不接电话|电话打不通|打不通了|人跑了|跑路|人没了|人全没了|人都没了|不见了|跑了|关机了",
        r"(转|汇|打|充|存)总?到.{0,12}了",
        r"钱.{0,2}(没了|不见了)|钱也不退|不退钱|钱不退|消费短信|支出短信|(送|交)(去|过去)了",
        r"把.{0,8}(都|全)?给(人|人家|他|她)了",
    )
)
# The customer says they were cheated, or asks whether what is happening is a scam: warn, scheme unknown.
# "骗子" alone is not enough: "一直收到骗子短信", "像骗子一样" are complaints.
_GENERIC = re.compile(
    _w(
        "被骗 上当 上了当 受骗 被人坑 被坑 坑了 骗了我 骗了俺 骗走 被人骗 骗去 是不是骗 是骗子吗 是骗子不 是诈骗吗 "
        "是不是诈骗 骗人的吧 是骗局 "
        "会不会是骗 骗子吧 被.{0,8}骗了(?!工资|工钱) 骗了" + _NUM
    )
)
# "没上当", "没被骗": the customer saw through it
_NOT_FOOLED = re.compile(_w("没上当 没有上当 没被骗 没有被骗 没受骗 不会上当"))
# "你们就是骗子" is anger at the bank (the handoff's negative-sentiment rule), not a scam story.
_CALLING_US_CHEATS = re.compile(
    r"^(你们|你|银行|农商行|这银行)(银行|这帮|这群|这伙)?(就|都|真|简直)?(是|就是)?(一群|一帮|一伙)?(骗子|骗人)"
)

# The police or the bank already got the money back: an after-care question, not a scam in progress.
_RECOVERED = re.compile(_w("追回来了 已经追回 追回了 返还给我 退回给我"))


# --- speed ------------------------------------------------------------------------------------------
# Every inbound message passes here, up to 2,000 characters. Most evidence groups are alternations of
# words, so a group cannot match a text that holds none of the characters its words start with: a set
# intersection decides that before any regex scans the text.


def _top_level(pattern: str) -> list[str] | None:
    """The alternatives of ``pattern`` at bracket depth 0, or None if its brackets do not balance."""
    parts: list[str] = []
    depth, start, i = 0, 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts if depth == 0 else None


def _closing(pattern: str) -> int:
    depth = 0
    for i, c in enumerate(pattern):
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
            if depth == 0:
                return i
    return -1


def first_chars(pattern: str) -> frozenset[str] | None:
    """The characters every match of ``pattern`` starts with, for the simple shapes used here; None if unsure."""
    alternatives = _top_level(pattern)
    if alternatives is None:
        return None
    chars: set[str] = set()
    for alt in alternatives:
        if not alt:
            return None
        if alt[0] == "(":
            end = _closing(alt)
            inner = alt[1:end]
            if (
                end < 0
                or alt[end + 1 : end + 2] in ("?", "*", "{")
                or (inner.startswith("?") and not inner.startswith("?:"))
            ):
                return None
            sub = first_chars(inner.removeprefix("?:"))
            if sub is None:
                return None
            chars |= sub
        elif alt[0] in "[.\\^$?*+{)|" or alt[1:2] in ("?", "*", "{"):
            return None
        else:
            chars.add(alt[0])
    return frozenset(chars)


_COMPILED: dict[str, re.Pattern[str]] = {name: re.compile(pattern) for name, pattern in EVIDENCE.items()}
_COMPILED["gone"] = _MONEY_LEFT
_FIRST: dict[str, frozenset[str] | None] = {name: first_chars(pattern) for name, pattern in EVIDENCE.items()}
for _scheme in SCHEMES:
    for _rule in _scheme.rules:
        for _name in _rule:
            assert _name in _COMPILED, f"{_scheme.code}: unknown evidence group {_name}"


# "对方说钱已经付了", "他说不小心把钱转到我卡上了": the other side's claim, not the customer's money leaving
# (but "我按他说的转了" is the customer's).
_THEIR_CLAIM = re.compile(r"说(钱|他|她|对方|人家)?(已经|不小心|刚|早就)?(把钱)?$")
_AS_TOLD = re.compile(r"(按|照|听)(他|她|对方|人家)?说的")


def _money_left(t: str) -> bool:
    for m in _MONEY_LEFT.finditer(t):
        before = _AS_TOLD.sub("", t[max(0, m.start() - 10) : m.start()])
        if not _THEIR_CLAIM.search(before):
            return True
    return False


def detect(text: str) -> FraudAlert | None:
    """A :class:`FraudAlert` when ``text`` tells of a scam (attempted or done), else None."""
    t = normalise(text)
    if len(t) < 4:
        return None
    found: dict[str, bool] = {}
    chars = set(t)

    def has(name: str) -> bool:
        hit = found.get(name)
        if hit is None:
            first = _FIRST.get(name)
            hit = found[name] = (first is None or not first.isdisjoint(chars)) and _COMPILED[name].search(t) is not None
        return hit

    # Which scheme first, then the checks that can only silence it: most texts match no rule at all.
    for scheme in SCHEMES:
        if any(all(has(name) for name in rule) for rule in scheme.rules) and not any(has(n) for n in scheme.unless):
            code, label = scheme.code, scheme.label
            break
    else:
        if not _GENERIC.search(_NOT_FOOLED.sub("", t)) or _CALLING_US_CHEATS.search(t) or _RECOVERED.search(t):
            return None
        code, label = "other", "诈骗"
    money_left = _money_left(t)
    if _HYPOTHETICAL.search(t) and not money_left:
        return None
    return FraudAlert(code, label, money_left)
