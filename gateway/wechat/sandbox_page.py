# ruff: noqa: E501 - one HTML/JS string, easier to read unwrapped
"""The sandbox's one HTML page: play a WeChat user and watch what the bank sends."""

PAGE_HTML = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>微信沙箱 · 模拟公众号用户</title>
<style>
body{font-family:-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;margin:0;background:#ededed;color:#222}
header{background:#2e2e2e;color:#fff;padding:12px 16px;font-size:17px}
main{display:flex;gap:16px;padding:16px;flex-wrap:wrap}
section{background:#fff;border-radius:8px;padding:12px;flex:1;min-width:320px}
label{display:block;margin:6px 0 2px;font-size:13px;color:#555}
input,select,textarea{width:100%;box-sizing:border-box;padding:6px;font-size:14px}
button{margin-top:10px;background:#07c160;color:#fff;border:0;border-radius:4px;padding:8px 18px;font-size:15px}
#chat{height:420px;overflow-y:auto;background:#f5f5f5;padding:8px;border-radius:6px}
.me,.bot{max-width:80%;margin:6px 0;padding:8px 10px;border-radius:6px;white-space:pre-wrap}
.me{background:#95ec69;margin-left:auto}.bot{background:#fff}
.note{font-size:12px;color:#888}
pre{font-size:12px;max-height:300px;overflow:auto;background:#f7f7f7;padding:8px}
</style></head><body>
<header>微信沙箱 —— 在本机模拟微信用户与公众号对话（不连接真实微信）</header>
<main>
<section>
  <label>用户 openid</label><input id="openid" value="o_sandbox_zhangsan">
  <label>消息类型</label>
  <select id="type">
    <option value="text">文字</option><option value="voice">语音（带识别文字）</option>
    <option value="image">图片</option><option value="location">位置</option>
    <option value="subscribe">关注公众号</option><option value="unsubscribe">取消关注</option>
    <option value="click">点击菜单</option>
  </select>
  <label>内容 / 语音识别文字 / 菜单 KEY / 二维码场景值</label>
  <input id="content" value="你好，我想查一下余额">
  <label>纬度, 经度（位置消息）</label><input id="loc" value="30.2741, 120.1551">
  <label><input type="checkbox" id="encrypt" style="width:auto" checked> 安全模式（AES 加密）</label>
  <button onclick="play()">发送</button>
  <p class="note">客服消息与模板消息（例如机器人超时后补发的回复）会自动出现在右侧。</p>
</section>
<section><div id="chat"></div></section>
<section><div class="note">沙箱收到的全部接口调用（/sandbox/messages）</div><pre id="raw"></pre></section>
</main>
<script>
let seen = 0;
function bubble(cls, text){const d=document.createElement('div');d.className=cls;d.textContent=text;
  const c=document.getElementById('chat');c.appendChild(d);c.scrollTop=c.scrollHeight;}
async function play(){
  const type=document.getElementById('type').value, content=document.getElementById('content').value;
  const [lat,lng]=document.getElementById('loc').value.split(',').map(Number);
  const spec={openid:document.getElementById('openid').value, encrypt:document.getElementById('encrypt').checked};
  if(type==='text'){spec.type='text';spec.content=content;bubble('me',content);}
  else if(type==='voice'){spec.type='voice';spec.recognition=content;bubble('me','[语音] '+content);}
  else if(type==='image'){spec.type='image';bubble('me','[图片]');}
  else if(type==='location'){spec.type='location';spec.latitude=lat;spec.longitude=lng;bubble('me','[位置]');}
  else if(type==='click'){spec.type='event';spec.event='CLICK';spec.event_key=content;bubble('me','[菜单] '+content);}
  else if(type==='subscribe'){spec.type='event';spec.event='subscribe';if(content)spec.event_key='qrscene_'+content;bubble('me','[关注]');}
  else {spec.type='event';spec.event='unsubscribe';bubble('me','[取消关注]');}
  const r=await fetch('/sandbox/play',{method:'POST',headers:{'Content-Type':'application/json'},body:JSON.stringify(spec)});
  const j=await r.json();
  if(j.error){bubble('bot','⚠ '+j.error);return;}
  if(j.status!==200){bubble('bot','⚠ 网关返回 HTTP '+j.status);}
  else if(j.reply){bubble('bot',j.reply);}
  else {bubble('bot','（网关回复 success，稍后如有消息将通过客服接口送达）');}
}
async function poll(){
  try{const r=await fetch('/sandbox/messages');const j=await r.json();
    document.getElementById('raw').textContent=JSON.stringify(j.received,null,2);
    const me=document.getElementById('openid').value;
    for(const m of j.received.slice(seen)){ if(m.touser===me){
      bubble('bot', m.kind==='custom' ? m.content : '[模板消息] '+JSON.stringify(m.data));}}
    seen=j.received.length;}catch(e){}
}
setInterval(poll,1500);poll();
</script></body></html>
"""
