// The header every page shares: the project's name and links to every page.
const pages = [
  ['/', 'Home'], ['/players/whip.html', 'WHIP'], ['/players/whep.html', 'WHEP'],
  ['/players/rtc_publisher.html', 'Publisher (API)'], ['/players/rtc_player.html', 'Player (API)'],
  ['/players/srs_player.html', 'FLV/HLS'], ['/demos/one2one.html', 'One to one'],
  ['/demos/room.html', 'Room'],
];
const header = document.createElement('header');
header.innerHTML = '<strong>shardsfu</strong>' + pages
  .map(([href, name]) => `<a href="${href}">${name}</a>`).join('');
document.body.prepend(header);
